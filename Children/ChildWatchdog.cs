using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace CodexApiServer.Children;

/// <summary>
/// Ends our CLI children when the server dies without ending them itself (SIGKILL, a crash, the
/// OOM killer). Idle CLIs exit by themselves when their stdin pipe closes, but one in the middle of a
/// turn finishes the turn first, which against a hung model may be never. So the server runs its own
/// binary again as a small watchdog that holds a pipe from the server and is told each child's PID and
/// start time; when the pipe closes it SIGKILLs those still running (and their descendants). PR_SET_PDEATHSIG
/// is no substitute: it fires when the thread that started the child exits, and .NET's pool threads do.
/// </summary>
public sealed partial class ChildWatchdog : IDisposable
{
    /// <summary>The hidden command line that makes the binary a watchdog.</summary>
    public const string Argument = "--watch-children";

    private readonly Process _process;
    private readonly StreamWriter _pipe;
    private readonly Lock _lock = new();
    private bool _broken;

    private ChildWatchdog(Process process)
    {
        _process = process;
        _pipe = process.StandardInput;
        _pipe.AutoFlush = true;
    }

    /// <summary>Starts the watchdog from this executable (or `dotnet exec` of this assembly), or returns null if that cannot be done.</summary>
    public static ChildWatchdog? Start(ILogger logger)
    {
        var self = Environment.ProcessPath;
        if (self is null)
        {
            return null;
        }
        var command = Hosting.HostOsInfo.SelfCommand(self, AppContext.BaseDirectory);
        if (command.Count > 1 && !File.Exists(command[^1]))
        {
            return null;
        }
        var info = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var arg in command.Skip(1).Append(Argument))
        {
            info.ArgumentList.Add(arg);
        }
        try
        {
            return new ChildWatchdog(Process.Start(info)!);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            LogNotStarted(logger, e.Message);
            return null;
        }
    }

    public int Pid => _process.Id;

    /// <summary>Tells the watchdog about a child just started (it is ours and unreaped, so its PID is still its own).</summary>
    public void Watch(int pid)
    {
        if (ProcessTree.StartStamp(pid) is not { } stamp)
        {
            return;
        }
        lock (_lock)
        {
            if (_broken)
            {
                return;
            }
            try
            {
                _pipe.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{pid} {stamp}"));
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                _broken = true;
            }
        }
    }

    /// <summary>A clean shutdown: the children are ended already; closing the pipe lets the watchdog check and exit.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _broken = true;
            try
            {
                _pipe.Dispose();
            }
            catch (IOException)
            {
            }
        }
        _process.WaitForExit(2000);
        _process.Dispose();
    }

    /// <summary>The watchdog itself: reads "PID STAMP" lines until the server's end of the pipe closes, then ends those PIDs.</summary>
    public static int Run(Stream input)
    {
        // Ctrl-C, a terminal hang-up or a stop signal to the whole group must not take the watchdog
        // out before the server: it ends when the server has ended.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => c.Cancel = true);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => c.Cancel = true);
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);
        // The same executable as the server: its start-up type data is as dead here (Hosting/StartupData.cs).
        CodexApiServer.Hosting.StartupData.Release();
        var watched = new Dictionary<int, long>();
        using var reader = new StreamReader(input);
        try
        {
            while (reader.ReadLine() is { } line)
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var pid) && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var stamp))
                {
                    watched[pid] = stamp;
                    if (watched.Count > 4096)
                    {
                        // Keep only the living: a long-running server starts many.
                        foreach (var gone in watched.Where(w => !ProcessTree.IsSame(w.Key, w.Value)).Select(w => w.Key).ToList())
                        {
                            watched.Remove(gone);
                        }
                    }
                }
            }
        }
        catch (IOException)
        {
            // The pipe broke: the server is gone just the same.
        }
        ProcessTree.KillAll(watched.Where(w => ProcessTree.IsSame(w.Key, w.Value)).Select(w => w.Key).ToList());
        return 0;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The child watchdog did not start ({Reason}); if the server is killed, a CLI in a turn may outlive it")]
    private static partial void LogNotStarted(ILogger logger, string reason);
}
