using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace CodexApiServer.Bench;

/// <summary>
/// The server as a child process (measures that need its own RSS, its process tree or a SIGKILL): the
/// published binary given with `--bin` (default out/codex-api-server under the repo), or else the built
/// assembly under `dotnet exec`, whose RSS is not the product's (the bench says so when it does that).
/// </summary>
public sealed partial class ServerChild : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StringBuilder _stderr = new();

    private ServerChild(Process process, string dataDir)
    {
        _process = process;
        DataDir = dataDir;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _listening.TrySetException(new InvalidOperationException("server exited before listening: " + Stderr));
                return;
            }
            var at = e.Data.IndexOf("listening on ", StringComparison.Ordinal);
            if (at >= 0)
            {
                _listening.TrySetResult(e.Data[(at + "listening on ".Length)..].Split(' ')[0]);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    if (_stderr.Length < 100_000)
                    {
                        _stderr.AppendLine(e.Data);
                    }
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private static readonly List<Process> Started = [];

    /// <summary>Ends every server this bench started that is still running (a measure that threw leaves its server behind).</summary>
    public static void EndAll()
    {
        lock (Started)
        {
            foreach (var p in Started)
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
            Started.Clear();
        }
    }

    /// <summary>The binary in use, set once by Program from `--bin`.</summary>
    public static string? Binary { get; set; }

    public int Pid => _process.Id;

    public string DataDir { get; }

    public string DatabasePath => Path.Combine(DataDir, "codex-api-server.db");

    public HttpClient Http { get; private set; } = null!;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>What runs the server: the binary, or "dotnet exec" of the assembly.</summary>
    public static string Describe() => Binary is { } b ? b : "dotnet exec " + Path.Combine(AppContext.BaseDirectory, "codex-api-server.dll") + " (not the AOT binary: its RSS is not the product's)";

    /// <summary>
    /// Starts the server on port 0 with <paramref name="config"/> written to a data dir (a fresh one unless
    /// <paramref name="dataDir"/> is given: then the config there is kept) and <paramref name="env"/> on top
    /// of the bench's environment, which its CLIs inherit.
    /// </summary>
    public static async Task<ServerChild> StartAsync(JsonObject? config, IReadOnlyDictionary<string, string?> env, string? dataDir = null)
    {
        var dir = dataDir ?? Tests.Support.TempDir.Create("server-child");
        if (config is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "config.json"), config.ToJsonString());
        }
        var info = Binary is { } bin ? new ProcessStartInfo(bin) : new ProcessStartInfo("dotnet") { ArgumentList = { "exec", Path.Combine(AppContext.BaseDirectory, "codex-api-server.dll") } };
        foreach (var a in new[] { "--port", "0", "--data-dir", dir })
        {
            info.ArgumentList.Add(a);
        }
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        foreach (var name in new[] { "CODEX_API_SERVER_HOST", "CODEX_API_SERVER_PORT", "CODEX_API_SERVER_DATA_DIR" })
        {
            info.Environment.Remove(name);
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
        var child = new ServerChild(Process.Start(info)!, dir);
        lock (Started)
        {
            Started.Add(child._process);
        }
        var address = await child._listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        child.Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(address),
            Timeout = TimeSpan.FromSeconds(300),
        };
        return child;
    }

    /// <summary>SIGKILL, the server process alone (as the OOM killer or `kill -9` would).</summary>
    public void KillHard() => _process.Kill(entireProcessTree: false);

    /// <summary>SIGTERM, and waits for the exit.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
    }

    public async Task WaitExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Http?.Dispose();
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
