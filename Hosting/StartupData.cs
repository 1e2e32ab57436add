using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace CodexApiServer.Hosting;

/// <summary>
/// Releases the pages of the executable's dehydrated type data once start-up has used them. Native AOT
/// builds the runtime's type data at start from a compressed copy in the executable's read-only data
/// (3 MB here); the runtime reads that copy once, whole, and never again, yet its pages stay in the
/// process's RSS. They are clean file pages, so dropping them (madvise MADV_DONTNEED) frees nothing that
/// anything still uses: a later read, were there one, would fetch them again from the file. Linux only,
/// and only when every check below holds; otherwise nothing is done.
/// </summary>
internal static partial class StartupData
{
    // ReadyToRunSectionType.DehydratedData of Native AOT's module header (src/coreclr/tools/Common/Internal/Runtime/ModuleHeaders.cs).
    private const int DehydratedDataSection = 207;
    private const uint ReadyToRunSignature = 0x00525452; // "RTR"
    private const int MadvDontNeed = 4;

    /// <summary>Bytes released, or 0 when nothing was (not Linux, not a Native AOT executable, or a check failed).</summary>
    public static long Release()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }
        try
        {
            var exe = Path.GetFullPath(Environment.ProcessPath ?? "");
            if (ModulesSection(exe) is not { } modules || Mappings(exe) is not { Count: > 0 } mappings)
            {
                return 0;
            }
            // A position-independent executable's addresses are relative to where its first segment was loaded.
            var loadBase = modules.Pie ? mappings.Where(m => m.Offset == 0).Select(m => m.Start).DefaultIfEmpty(0).Min() : 0;
            var slot = loadBase + modules.Address;
            // Nothing is read that is not inside the executable's own mappings: a wrong address would end the process.
            if ((modules.Pie && loadBase == 0) || !Inside(mappings, slot, 8))
            {
                return 0;
            }
            var header = Marshal.ReadIntPtr((nint)slot);
            if (!Inside(mappings, header, 16) || (uint)Marshal.ReadInt32(header) != ReadyToRunSignature)
            {
                return 0;
            }
            var count = (ushort)Marshal.ReadInt16(header, 12);
            var entrySize = Marshal.ReadByte(header, 14);
            if (entrySize < 24 || !Inside(mappings, header + 16, (long)count * entrySize))
            {
                return 0;
            }
            for (var i = 0; i < count; i++)
            {
                var row = header + 16 + (i * entrySize);
                if (Marshal.ReadInt32(row) != DehydratedDataSection)
                {
                    continue;
                }
                var page = Environment.SystemPageSize;
                var start = ((long)Marshal.ReadIntPtr(row, 8) + page - 1) / page * page;
                var end = (long)Marshal.ReadIntPtr(row, 16) / page * page;
                // Only whole pages of a read-only mapping of the executable itself: never memory anything writes.
                if (end <= start || !mappings.Exists(m => m.ReadOnly && m.Start <= start && end <= m.End))
                {
                    return 0;
                }
                return Madvise((nint)start, (nuint)(end - start), MadvDontNeed) == 0 ? end - start : 0;
            }
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException or FormatException or ArgumentException)
        {
            return 0;
        }
    }

    private static bool Inside(List<Mapping> mappings, long address, long length) =>
        address > 0 && length >= 0 && mappings.Exists(m => m.Start <= address && address + length <= m.End);

    /// <summary>
    /// The link-time address of the executable's __modules section (a pointer to its module header), from its
    /// ELF section headers, and whether the executable is position-independent (ELF type ET_DYN).
    /// </summary>
    private static (long Address, bool Pie)? ModulesSection(string exe)
    {
        using var file = File.OpenRead(exe);
        Span<byte> elf = stackalloc byte[64];
        if (file.Read(elf) != 64 || !elf[..4].SequenceEqual("\u007fELF"u8) || elf[4] != 2 || elf[5] != 1)
        {
            return null; // not a little-endian ELF64
        }
        var type = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x10..]);
        if (type is not (2 or 3))
        {
            return null; // neither ET_EXEC nor ET_DYN
        }
        var shoff = BinaryPrimitives.ReadInt64LittleEndian(elf[0x28..]);
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        var shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3E..]);
        if (shentsize < 64 || shnum == 0 || shstrndx >= shnum)
        {
            return null;
        }
        var headers = new byte[shentsize * shnum];
        file.Position = shoff;
        file.ReadExactly(headers);
        var names = headers.AsSpan(shstrndx * shentsize);
        var namesOffset = BinaryPrimitives.ReadInt64LittleEndian(names[0x18..]);
        var namesSize = BinaryPrimitives.ReadInt64LittleEndian(names[0x20..]);
        if (namesSize is <= 0 or > 1 << 20)
        {
            return null;
        }
        var strings = new byte[namesSize];
        file.Position = namesOffset;
        file.ReadExactly(strings);
        for (var i = 0; i < shnum; i++)
        {
            var section = headers.AsSpan(i * shentsize, shentsize);
            var name = BinaryPrimitives.ReadInt32LittleEndian(section);
            if (name < 0 || name >= strings.Length)
            {
                continue;
            }
            var rest = strings.AsSpan(name);
            var length = rest.IndexOf((byte)0);
            if (length >= 0 && rest[..length].SequenceEqual("__modules"u8))
            {
                return (BinaryPrimitives.ReadInt64LittleEndian(section[0x10..]), type == 3);
            }
        }
        return null;
    }

    private readonly record struct Mapping(long Start, long End, long Offset, bool ReadOnly);

    /// <summary>The executable's own mappings from /proc/self/maps; the one at file offset 0 gives a PIE's load address.</summary>
    private static List<Mapping> Mappings(string exe)
    {
        var list = new List<Mapping>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            // start-end perms offset dev inode path
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 6 || parts[5].Trim() != exe)
            {
                continue;
            }
            var range = parts[0].Split('-');
            list.Add(new Mapping(Convert.ToInt64(range[0], 16), Convert.ToInt64(range[1], 16), Convert.ToInt64(parts[2], 16), parts[1] == "r--p"));
        }
        return list;
    }

    [LibraryImport("libc.so.6", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
