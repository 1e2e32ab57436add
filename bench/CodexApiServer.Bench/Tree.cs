using System.Globalization;

namespace CodexApiServer.Bench;

/// <summary>Process trees and their memory, read from /proc.</summary>
public static class Tree
{
    /// <summary>Every descendant of <paramref name="root"/> (not itself), by walking the PPid of each /proc entry.</summary>
    public static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Status(pid, "PPid") is { } ppid)
            {
                parents[pid] = (int)ppid;
            }
        }
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var p))
        {
            foreach (var (child, parent) in parents)
            {
                if (parent == p)
                {
                    result.Add(child);
                    frontier.Enqueue(child);
                }
            }
        }
        return result;
    }

    /// <summary>VmRSS in kB, or 0 if the process is gone.</summary>
    public static long RssKb(int pid) => Status(pid, "VmRSS") ?? 0;

    /// <summary>The RSS of <paramref name="root"/> and all its descendants, in kB.</summary>
    public static long TreeRssKb(int root) => RssKb(root) + Descendants(root).Sum(RssKb);

    public static bool IsAlive(int pid) =>
        // A zombie has exited; it only waits for its parent to read its status.
        File.Exists($"/proc/{pid}/stat") && Read($"/proc/{pid}/stat") is { } stat && stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault() != 'Z';

    public static string CommandLine(int pid)
    {
        var raw = Read($"/proc/{pid}/cmdline") ?? "";
        var line = raw.Replace('\0', ' ').Trim();
        return line.Length > 110 ? line[..110] + "..." : line;
    }

    /// <summary>Each process of the tree with its RSS, for a breakdown.</summary>
    public static IEnumerable<(int Pid, long RssKb, string Command)> Breakdown(int root) =>
        new[] { root }.Concat(Descendants(root)).Select(p => (p, RssKb(p), CommandLine(p)));

    private static long? Status(int pid, string field)
    {
        var text = Read($"/proc/{pid}/status");
        if (text is null)
        {
            return null;
        }
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var value = line[(field.Length + 1)..].Trim().Split(' ')[0];
                return long.Parse(value, CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Samples a process tree's RSS every ~100 ms in the background and keeps the peak.</summary>
public sealed class TreeSampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public TreeSampler(int root)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var kb = Tree.TreeRssKb(root);
                var rootKb = Tree.RssKb(root);
                PeakKb = Math.Max(PeakKb, kb);
                PeakRootKb = Math.Max(PeakRootKb, rootKb);
                Samples++;
                try
                {
                    await Task.Delay(100, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
    }

    public long PeakKb { get; private set; }

    public long PeakRootKb { get; private set; }

    public int Samples { get; private set; }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        _stop.Dispose();
    }
}
