using System.Diagnostics;
using System.Text;

namespace CodexApiServer.Bench;

/// <summary>Child processes the bench starts itself (argv arrays, no shell); all ended by PID at the end.</summary>
public static class Children
{
    private static readonly List<Process> Started = [];

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
        // stderr is drained so a chatty CLI never blocks on a full pipe.
        _ = Task.Run(async () =>
        {
            try
            {
                await p.StandardError.BaseStream.CopyToAsync(Stream.Null);
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
