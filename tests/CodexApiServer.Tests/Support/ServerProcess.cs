using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace CodexApiServer.Tests.Support;

/// <summary>
/// The server as a separate process, for what only a process shows: exit codes, signals, SIGKILL.
/// Runs the published binary when CODEX_API_SERVER_BIN names one, else the built assembly under dotnet.
/// </summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _listening.TrySetException(new InvalidOperationException("server exited before listening: " + Stderr));
                return;
            }
            lock (_stdout)
            {
                _stdout.AppendLine(e.Data);
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
                    _stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

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

    public static ServerProcess Start(IEnumerable<string> args, IDictionary<string, string?>? environment = null)
    {
        var bin = Environment.GetEnvironmentVariable("CODEX_API_SERVER_BIN");
        // Started as from a terminal, where Ctrl-C reaches it. A test run in the background (a CI job
        // started by a script) has SIGINT and SIGQUIT ignored, every child inherits that, and .NET keeps
        // an inherited SIGINT ignored, as a background job should. `env` execs the server in its place (same PID).
        var info = new ProcessStartInfo("env") { ArgumentList = { "--default-signal=INT,QUIT" } };
        if (!string.IsNullOrEmpty(bin))
        {
            info.ArgumentList.Add(bin);
        }
        else
        {
            info.ArgumentList.Add("dotnet");
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "codex-api-server.dll"));
        }
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        foreach (var name in new[] { "CODEX_API_SERVER_HOST", "CODEX_API_SERVER_PORT", "CODEX_API_SERVER_DATA_DIR" })
        {
            info.Environment.Remove(name);
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                info.Environment[k] = v;
            }
        }
        return new ServerProcess(Process.Start(info)!);
    }

    /// <summary>Waits for the "listening on" line and returns the address.</summary>
    public async Task<Uri> WaitListeningAsync(TimeSpan? timeout = null) =>
        new(await _listening.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30)));

    public async Task<int> WaitExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Signal(int signal) => Assert.Equal(0, Kill(_process.Id, signal));

    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigInt = 2;

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
