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

    /// <summary>Runs a short command to its end and returns its exit code and stdout; kills it at the timeout.</summary>
    public async Task<(int ExitCode, string Stdout)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var process = Start(file, args, redirectStdin: false);
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

    /// <summary>Ends one of our children and everything it started.</summary>
    public void End(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            LogKillFailed(logger, process.Id, e.Message);
        }
    }

    /// <summary>Set once the server ends its children, so an exit that follows is not reported as a crash.</summary>
    public bool ShuttingDown { get; private set; }

    /// <summary>Ends every child and its tree at once (one pass, not one per child), then waits a little for them to go.</summary>
    public void EndAll()
    {
        ShuttingDown = true;
        ProcessTree.KillAll(_running.Where(p => !HasExited(p.Value)).Select(p => p.Key).ToList());
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
