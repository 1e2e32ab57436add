using System.Diagnostics;
using System.Globalization;

namespace CodexApiServer.Children;

/// <summary>
/// Ending processes with everything they started, many at once. On Linux one look at /proc finds
/// every descendant of every root (Process.Kill(entireProcessTree) reads the whole process table
/// again for each process, which adds up to seconds with dozens of CLIs); elsewhere each root's tree
/// is ended by .NET.
/// </summary>
public static class ProcessTree
{
    /// <summary>An identity for a live PID that a later process with the same PID does not share (its start time), or null when it is gone.</summary>
    public static long? StartStamp(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            // Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces and parentheses).
            var stat = ReadStat(pid);
            var fields = stat?[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields is { Length: > 19 } && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
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
        var children = ChildrenByParent();
        var victims = new HashSet<int>();
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            var pid = stack.Pop();
            if (victims.Add(pid) && children.TryGetValue(pid, out var list))
            {
                list.ForEach(stack.Push);
            }
        }
        foreach (var pid in victims)
        {
            Kill(pid, tree: false);
        }
        return victims.Count;
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
