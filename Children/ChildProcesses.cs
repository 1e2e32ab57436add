using System.Collections.Concurrent;
using System.Diagnostics;

namespace CodexApiServer.Children;

/// <summary>
/// Every child process the server starts goes through here, so shutdown can end each one (and its
/// tree) by PID, and the watchdog (when the server runs as its own process) can end them if the
/// server is killed. Processes are started from an argv array, never through a shell.
/// </summary>
public sealed partial class ChildProcesses(ILogger<ChildProcesses> logger, ChildWatchdog? watchdog = null) : IDisposable
{
    private readonly ConcurrentDictionary<int, Process> _running = new();

    public int Count => _running.Count(p => !HasExited(p.Value));

    public Process Start(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, bool redirectStdin = true)
    {
        if (OperatingSystem.IsWindows() && NpmShim.IsBatch(file))
        {
            var (program, leading) = NpmShim.Resolve(file, File.ReadAllText(file), File.Exists)
                ?? throw new IOException($"{file} is a batch file that is not an npm shim; set the path to the program itself (an .exe)");
            (file, args) = (program, leading.Concat(args).ToList());
        }
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = redirectStdin,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardErrorEncoding = System.Text.Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                if (value is null)
                {
                    info.Environment.Remove(key);
                }
                else
                {
                    info.Environment[key] = value;
                }
            }
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Start();
        var pid = process.Id;
        _running[pid] = process;
        process.Exited += (_, _) => _running.TryRemove(pid, out _);
        watchdog?.Watch(pid);
        LogStarted(logger, Path.GetFileName(file), pid);
        return process;
    }

    /// <summary>Runs a short command to its end and returns its exit code and stdout; ends it at the timeout.</summary>
    public async Task<(int ExitCode, string Stdout)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var process = Start(file, args, environment: environment, redirectStdin: false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return (process.ExitCode, await stdout);
        }
        catch (OperationCanceledException)
        {
            End(process);
            // A shutdown is not a slow CLI: say which one it was.
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{Path.GetFileName(file)} did not finish within {timeout.TotalSeconds:0} s");
        }
        finally
        {
            _ = stderr.ContinueWith(static _ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// How long a child has, after SIGTERM, to end by itself before it and its tree are killed. The CLIs
    /// end within ~30 ms of SIGTERM when idle (claude, and codex's node wrapper, which passes it on to the
    /// native codex); a hung or stubborn child costs this much, once for all of them at shutdown.
    /// </summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);

    // Children being ended (PID and start stamp) until their stop is done, so a shutdown in between still sees them.
    private readonly ConcurrentDictionary<int, long> _stopping = new();

    /// <summary>
    /// Ends one of our children and everything it started: SIGTERM now, and a kill of what is left after
    /// <see cref="StopGrace"/>. Returns once the signal is sent (a cancelled turn calls this on a request
    /// thread); the caller may dispose the Process right after.
    /// </summary>
    public void End(Process process)
    {
        try
        {
            if (process.HasExited)
            {
                return;
            }
            if (OperatingSystem.IsWindows())
            {
                // No SIGTERM there; a console CLI has no window to close either.
                process.Kill(entireProcessTree: true);
                return;
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
            return;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            LogKillFailed(logger, process.Id, e.Message);
            return;
        }
        var pid = process.Id;
        if (ProcessTree.StartStamp(pid) is { } stamp && _stopping.TryAdd(pid, stamp))
        {
            _ = StopAsync(pid, stamp);
        }
    }

    private async Task StopAsync(int pid, long stamp)
    {
        try
        {
            await ProcessTree.StopAllAsync([(pid, stamp)], StopGrace);
        }
        finally
        {
            _stopping.TryRemove(pid, out _);
        }
    }

    /// <summary>Set once the server ends its children, so an exit that follows is not reported as a crash.</summary>
    public bool ShuttingDown { get; private set; }

    /// <summary>Ends every child and its tree (SIGTERM to all, one shared grace period, then one kill pass for what is left), then waits a little for them to be reaped.</summary>
    public void EndAll()
    {
        ShuttingDown = true;
        var roots = new Dictionary<int, long>(_stopping);
        foreach (var (pid, process) in _running)
        {
            if (!HasExited(process) && ProcessTree.StartStamp(pid) is { } stamp)
            {
                roots.TryAdd(pid, stamp);
            }
        }
        // Completes on this thread: a shutdown blocked on pool-thread timers would starve the pool it waits on.
        ProcessTree.StopAllAsync(roots.Select(r => (r.Key, r.Value)).ToList(), StopGrace, blocking: true).GetAwaiter().GetResult();
        foreach (var (_, process) in _running)
        {
            try
            {
                process.WaitForExit(2000);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    public void Dispose() => EndAll();

    private static bool HasExited(Process p)
    {
        try
        {
            return p.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Started {File} as PID {Pid}")]
    private static partial void LogStarted(ILogger logger, string file, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not end PID {Pid}: {Reason}")]
    private static partial void LogKillFailed(ILogger logger, int pid, string reason);
}
