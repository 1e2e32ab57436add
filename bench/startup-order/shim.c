// LD_PRELOAD shim for startup-order.sh only: it never ships and the product never loads it.
//
// The kernel maps up to 64 KB of cached neighbours around every page fault in a file mapping
// ("fault-around"), and an exec reads the whole executable into the page cache (read-ahead), so the
// resident pages of a normal run say little about which code start-up runs. Registering the
// executable's mappings with an asynchronous write-protect userfaultfd turns fault-around off for
// them; the code mapping is emptied first (code is never written, so it just faults back in). After
// that, the executable's resident pages (/proc/PID/pagemap) are exactly the pages touched.
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

__attribute__((constructor)) static void startup_order_shim(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0) {
        perror("startup-order shim: userfaultfd (needs Linux 6.7+)");
        return;
    }
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    char line[PATH_MAX + 256];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perm[8], path[PATH_MAX] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %s", &start, &end, perm, path) < 3 || strcmp(path, exe) != 0) continue;
        if (strcmp(perm, "r-xp") == 0) madvise((void *)start, end - start, MADV_DONTNEED);
        struct uffdio_register reg = { .range = { .start = start, .len = end - start }, .mode = UFFDIO_REGISTER_MODE_WP };
        if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) fprintf(stderr, "startup-order shim: cannot register %s %lx\n", perm, start);
    }
    fclose(maps);
    // uffd stays open for the life of the process: closing it would unregister the ranges.
}
