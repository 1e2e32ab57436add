using System.Diagnostics;
using System.Text;

namespace CodexApiServer.Bench;

/// <summary>Child processes the bench starts itself (argv arrays, no shell); all ended by PID at the end.</summary>
public static class Children
{
    private static readonly List<Process> Started = [];
    private static readonly Dictionary<int, Queue<string>> StderrTails = [];

    /// <summary>The last lines a child wrote to stderr, for error messages.</summary>
    public static string StderrTail(Process p)
    {
        lock (StderrTails)
        {
            return StderrTails.TryGetValue(p.Id, out var q) ? string.Join(" | ", q) : "";
        }
    }

    public static Process Start(string file, IEnumerable<string> args, string cwd, IReadOnlyDictionary<string, string?> env, bool stdin = true)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = cwd,
            RedirectStandardInput = stdin,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env)
        {
            if (v is null)
            {
                info.Environment.Remove(k);
            }
            else
            {
                info.Environment[k] = v;
            }
        }
        var p = Process.Start(info)!;
        lock (Started)
        {
            Started.Add(p);
        }
        // stderr is drained so a chatty CLI never blocks on a full pipe; its tail is kept for errors.
        var tail = new Queue<string>();
        lock (StderrTails)
        {
            StderrTails[p.Id] = tail;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                while (await p.StandardError.ReadLineAsync() is { } line)
                {
                    lock (StderrTails)
                    {
                        tail.Enqueue(line.Length > 300 ? line[..300] : line);
                        if (tail.Count > 8)
                        {
                            tail.Dequeue();
                        }
                    }
                }
            }
            catch (Exception)
            {
            }
        });
        return p;
    }

    public static void End(Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        catch (Exception)
        {
        }
    }

    public static void EndAll()
    {
        lock (Started)
        {
            foreach (var p in Started)
            {
                End(p);
            }
            Started.Clear();
        }
    }
}
