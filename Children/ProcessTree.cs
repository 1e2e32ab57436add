using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace CodexApiServer.Children;

/// <summary>
/// Ending processes with everything they started, many at once. On Linux one look at /proc finds
/// every descendant of every root (Process.Kill(entireProcessTree) reads the whole process table
/// again for each process, which adds up to seconds with dozens of CLIs); elsewhere each root's tree
/// is ended by .NET. A stop is graceful first, as in dotnet/aspire's ProcessUtil: SIGTERM, a bounded
/// wait, then SIGKILL for what is left.
/// </summary>
public static partial class ProcessTree
{
    private const int SigTerm = 15;

    // Not Process.Kill: that only sends SIGKILL. A direct import is AOT-safe.
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    /// <summary>An identity for a live PID that a later process with the same PID does not share (its start time), or null when it is gone.</summary>
    public static long? StartStamp(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            // Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces and parentheses).
            // A zombie (state Z, field 3) has ended: only its entry waits to be reaped.
            var stat = ReadStat(pid);
            var fields = stat?[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields is { Length: > 19 } && fields[0] != "Z" && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.StartTime.ToUniversalTime().Ticks / TimeSpan.TicksPerSecond;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Whether the PID still is the process that had <paramref name="stamp"/>.</summary>
    public static bool IsSame(int pid, long stamp) =>
        StartStamp(pid) is { } now && (OperatingSystem.IsLinux() ? now == stamp : Math.Abs(now - stamp) <= 1);

    /// <summary>SIGKILLs the roots and all their descendants; returns how many processes it signalled.</summary>
    public static int KillAll(IReadOnlyCollection<int> roots)
    {
        if (roots.Count == 0)
        {
            return 0;
        }
        if (!OperatingSystem.IsLinux())
        {
            foreach (var pid in roots)
            {
                Kill(pid, tree: true);
            }
            return roots.Count;
        }
        var victims = WithDescendants(roots);
        foreach (var pid in victims)
        {
            Kill(pid, tree: false);
        }
        return victims.Count;
    }

    /// <summary>
    /// Asks the roots (PID and start stamp) and everything they started to end with SIGTERM, waits up to
    /// <paramref name="grace"/> for them to go, then SIGKILLs those left and what they started meanwhile.
    /// Many at once share the one wait. On Windows, which has no SIGTERM, the trees are killed at once.
    /// </summary>
    /// <param name="blocking">Wait on this thread (shutdown, which must not need other pool threads to finish) instead of awaiting timers.</param>
    public static async Task StopAllAsync(IReadOnlyCollection<(int Pid, long Stamp)> roots, TimeSpan grace, bool blocking = false)
    {
        if (OperatingSystem.IsWindows())
        {
            KillAll(roots.Where(r => IsSame(r.Pid, r.Stamp)).Select(r => r.Pid).ToList());
            return;
        }
        // The tree as it is now: a root that exits on SIGTERM may leave its children behind, re-parented.
        var living = roots.Where(r => IsSame(r.Pid, r.Stamp)).Select(r => r.Pid).ToList();
        var members = new List<(int Pid, long Stamp)>();
        foreach (var pid in OperatingSystem.IsLinux() ? WithDescendants(living) : (IEnumerable<int>)living)
        {
            if (StartStamp(pid) is { } stamp)
            {
                members.Add((pid, stamp));
                _ = SysKill(pid, SigTerm);
            }
        }
        var waited = Stopwatch.StartNew();
        while (members.Any(m => IsSame(m.Pid, m.Stamp)) && waited.Elapsed < grace)
        {
            if (blocking)
            {
                Thread.Sleep(20);
            }
            else
            {
                await Task.Delay(20);
            }
        }
        KillAll(members.Where(m => IsSame(m.Pid, m.Stamp)).Select(m => m.Pid).ToList());
    }

    private static HashSet<int> WithDescendants(IReadOnlyCollection<int> roots)
    {
        var all = new HashSet<int>();
        if (roots.Count == 0)
        {
            return all;
        }
        var children = ChildrenByParent();
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            var pid = stack.Pop();
            if (all.Add(pid) && children.TryGetValue(pid, out var list))
            {
                list.ForEach(stack.Push);
            }
        }
        return all;
    }

    private static Dictionary<int, List<int>> ChildrenByParent()
    {
        var map = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || ReadStat(pid) is not { } stat)
            {
                continue;
            }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent))
            {
                (map.TryGetValue(parent, out var list) ? list : map[parent] = []).Add(pid);
            }
        }
        return map;
    }

    private static string? ReadStat(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void Kill(int pid, bool tree)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(tree);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Gone already, or not ours to end.
        }
    }
}
