using System.Diagnostics;
using System.Runtime.InteropServices;
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

    private ServerChild(Process process, string dataDir)
    {
        _process = process;
        DataDir = dataDir;
        // stdout until the "listening on" line (Children drains stderr and keeps its tail), then drained.
        _ = Task.Run(async () =>
        {
            try
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line)
                {
                    var at = line.IndexOf("listening on ", StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        _listening.TrySetResult(line[(at + "listening on ".Length)..].Split(' ')[0]);
                    }
                }
            }
            catch (Exception)
            {
            }
            _listening.TrySetException(new InvalidOperationException("server exited before listening: " + Stderr));
        });
    }

    /// <summary>The binary in use, set once by Program from `--bin`.</summary>
    public static string? Binary { get; set; }

    public int Pid => _process.Id;

    public string DataDir { get; }

    public string DatabasePath => Path.Combine(DataDir, "codex-api-server.db");

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The last lines the server wrote to stderr.</summary>
    public string Stderr => Children.StderrTail(_process);

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
        var (file, leading) = Binary is { } bin ? (bin, Array.Empty<string>()) : ("dotnet", ["exec", Path.Combine(AppContext.BaseDirectory, "codex-api-server.dll")]);
        // The server takes its address and data dir from the flags only, never from this environment.
        var environment = new Dictionary<string, string?>(env)
        {
            ["CODEX_API_SERVER_HOST"] = null,
            ["CODEX_API_SERVER_PORT"] = null,
            ["CODEX_API_SERVER_DATA_DIR"] = null,
        };
        var child = new ServerChild(Children.Start(file, [.. leading, "--port", "0", "--data-dir", dir], Environment.CurrentDirectory, environment), dir);
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
