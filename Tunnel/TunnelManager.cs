using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CodexApiServer.Children;
using CodexApiServer.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CodexApiServer.Tunnel;

/// <summary>
/// Owns our one cloudflared child: starts it (quick or named tunnel), reads its log until the tunnel
/// is usable, restarts it with exponential back-off when it dies, and ends it — only it, by PID,
/// with its whole tree — on stop and on shutdown.
/// </summary>
public sealed partial class TunnelManager : IHostedService, IDisposable
{
    public const string Quick = "quick";
    public const string Named = "named";

    private readonly ServerSettings _settings;
    private readonly ChildProcesses _children;
    private readonly IServer _server;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly CloudflaredInstaller _installer;
    private readonly ILogger<TunnelManager> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _lock = new();
    private Session? _session;
    private RunState _run = new("stopped", null, null, "stopped", null, null, 0, null, null);

    internal TunnelManager(ServerSettings settings, ChildProcesses children, IServer server, IHostApplicationLifetime lifetime,
        TunnelOptions options, CloudflaredInstaller installer, ILogger<TunnelManager> logger)
    {
        _settings = settings;
        _children = children;
        _server = server;
        _lifetime = lifetime;
        Options = options;
        _installer = installer;
        _logger = logger;
    }

    internal TunnelOptions Options { get; }

    public TunnelStatus Status
    {
        get
        {
            var r = _run;
            return new TunnelStatus(r.State, r.Mode, r.Url, r.Message, r.Since, r.Pid, r.Restarts, r.LastError, r.NextRestartAt,
                Cloudflared.Status(_settings), _installer.Status);
        }
    }

    /// <summary>The public URL while the tunnel has one (read on every request, so no status record is built).</summary>
    public string? PublicUrl => _run.Url;

    public string DefaultMode => string.IsNullOrEmpty(_settings.Config.TunnelToken) ? Quick : Named;

    /// <summary>Starts the tunnel, or does nothing when it already runs in that mode. Returns after the child was launched, before it is ready.</summary>
    public async Task<TunnelStartFailure?> StartTunnelAsync(string? mode, CancellationToken cancellationToken)
    {
        mode ??= DefaultMode;
        if (mode == Named && string.IsNullOrEmpty(_settings.Config.TunnelToken))
        {
            return new TunnelStartFailure(StatusCodes.Status400BadRequest, "tunnel_token_missing",
                "A named tunnel needs tunnelToken in the configuration (the token Cloudflare shows for the tunnel); or start a quick tunnel.");
        }
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_session is { } current && !current.Loop.IsCompleted)
            {
                if (current.Mode == mode)
                {
                    return null;
                }
                await EndSessionAsync(current);
            }
            else
            {
                _session?.Cts.Dispose();
            }
            _session = null;
            if (Cloudflared.Locate(_settings) is null)
            {
                var message = Cloudflared.NotFoundMessage(_settings);
                _run = new RunState("error", mode, null, message, null, null, 0, message, null);
                return new TunnelStartFailure(StatusCodes.Status409Conflict, "cloudflared_not_found", message);
            }
            if (LocalOrigin(_server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()) is not { } origin)
            {
                return new TunnelStartFailure(StatusCodes.Status503ServiceUnavailable, "server_not_listening", "The server is not listening yet; try again in a moment.");
            }
            var session = new Session(mode, origin, CancellationTokenSource.CreateLinkedTokenSource(_lifetime.ApplicationStopping));
            lock (_lock)
            {
                _session = session;
                _run = new RunState("starting", mode, null, StartingMessage(mode), null, null, 0, null, null);
            }
            session.Loop = Task.Run(() => SuperviseAsync(session), CancellationToken.None);
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Ends our cloudflared (and its children) and waits until it is gone.</summary>
    public async Task StopTunnelAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_session is { } session)
            {
                await EndSessionAsync(session);
                _session = null;
                LogStopped(_logger);
            }
            lock (_lock)
            {
                _run = _run with { State = "stopped", Url = null, Message = "stopped", Since = null, Pid = null, NextRestartAt = null };
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public string? BeginInstall() => _installer.Begin();

    Task IHostedService.StartAsync(CancellationToken cancellationToken)
    {
        if (_settings.Config.TunnelAutoStart)
        {
            // Once Kestrel listens, so the tunnel can point at the port actually bound.
            _lifetime.ApplicationStarted.Register(() => _ = AutoStartAsync());
        }
        return Task.CompletedTask;
    }

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => StopTunnelAsync();

    public void Dispose()
    {
        _session?.Cts.Cancel();
        if (_session?.Process is { } process)
        {
            _children.End(process);
        }
    }

    /// <summary>The origin cloudflared should forward to: loopback when the server listens on every interface.</summary>
    internal static string? LocalOrigin(string? address)
    {
        if (address is null || !Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Port <= 0)
        {
            return null;
        }
        var host = uri.Host.Trim('[', ']');
        var target = "127.0.0.1";
        if (IPAddress.TryParse(host, out var ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any) && !IPAddress.IsLoopback(ip))
        {
            target = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
        }
        else if (ip is not null && ip.Equals(IPAddress.IPv6Loopback))
        {
            target = "[::1]";
        }
        return $"http://{target}:{uri.Port}";
    }

    private async Task AutoStartAsync()
    {
        try
        {
            if (await StartTunnelAsync(null, _lifetime.ApplicationStopping) is { } failure)
            {
                LogAutoStartFailed(_logger, failure.Message);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task EndSessionAsync(Session session)
    {
        await session.Cts.CancelAsync();
        if (session.Process is { } process)
        {
            _children.End(process);
        }
        try
        {
            await session.Loop.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }
        session.Cts.Dispose();
    }

    private async Task SuperviseAsync(Session session)
    {
        var token = session.Cts.Token;
        var failuresInARow = 0;
        while (!token.IsCancellationRequested)
        {
            if (Cloudflared.Locate(_settings) is not { } path)
            {
                var message = Cloudflared.NotFoundMessage(_settings);
                Publish(session, r => r with { State = "error", Message = message, LastError = message, Pid = null, Url = null, NextRestartAt = null });
                return;
            }
            Attempt attempt;
            try
            {
                attempt = await RunOnceAsync(session, path, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            if (token.IsCancellationRequested)
            {
                return;
            }
            // A tunnel that stayed up a while starts over at the shortest delay.
            failuresInARow = attempt.Uptime >= Options.RestartMaxDelay ? 1 : failuresInARow + 1;
            var delay = BackOff(Options, failuresInARow);
            LogFailed(_logger, attempt.Error, delay.TotalSeconds);
            var at = DateTimeOffset.UtcNow + delay;
            Publish(session, r => r with
            {
                State = "error",
                Url = null,
                Since = null,
                Pid = null,
                LastError = attempt.Error,
                Message = $"{attempt.Error}; restarting in {delay.TotalSeconds:0.#} s",
                NextRestartAt = at,
            });
            try
            {
                await Task.Delay(delay, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Publish(session, r => r with { State = "starting", Restarts = r.Restarts + 1, Message = StartingMessage(session.Mode), NextRestartAt = null });
        }
    }

    internal static TimeSpan BackOff(TunnelOptions options, int failuresInARow)
    {
        var ticks = options.RestartBaseDelay.Ticks * Math.Pow(2, Math.Min(failuresInARow - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(ticks, options.RestartMaxDelay.Ticks));
    }

    private async Task<Attempt> RunOnceAsync(Session session, string path, CancellationToken token)
    {
        var named = session.Mode == Named;
        string[] argv = named
            ? ["tunnel", "--no-autoupdate", "run"]
            : ["tunnel", "--no-autoupdate", "--url", session.Origin];
        // The token goes through the environment: on the command line every user of the machine could read it.
        var environment = new Dictionary<string, string?> { ["TUNNEL_TOKEN"] = named ? _settings.Config.TunnelToken : null };
        Process process;
        try
        {
            process = _children.Start(path, argv, _settings.DataDir, environment, redirectStdin: false);
        }
        catch (Win32Exception e)
        {
            return new Attempt($"cannot run {path}: {e.Message}", TimeSpan.Zero);
        }
        using var owned = process;
        session.Process = process;
        var pid = process.Id;
        LogStarting(_logger, session.Mode, pid);
        Publish(session, r => r with { State = "starting", Pid = pid, Url = null, Since = null, NextRestartAt = null });

        var log = new LogState();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = Task.Run(() => ReadLogAsync(session, process, named, log, ready, token), CancellationToken.None);
        var stdout = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, token)
            .ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        try
        {
            var exited = process.WaitForExitAsync(token);
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(token);
            var timeout = Task.Delay(Options.StartTimeout, timeoutCts.Token);
            var first = await Task.WhenAny(ready.Task, exited, timeout);
            await timeoutCts.CancelAsync();
            token.ThrowIfCancellationRequested();
            if (first == timeout)
            {
                _children.End(process);
                var what = named ? "registered no tunnel connection"
                    : log.Url is null ? "created no quick tunnel"
                    : $"created {log.Url} but registered no connection";
                return new Attempt($"cloudflared {what} within {Options.StartTimeout.TotalSeconds:0.#} s{Detail(log.LastError)}", TimeSpan.Zero);
            }
            if (first == exited)
            {
                await DrainAsync(stderr);
                return new Attempt($"cloudflared exited with code {process.ExitCode} before the tunnel was ready{Detail(log.LastError ?? log.LastLine)}", TimeSpan.Zero);
            }

            var runningSince = Stopwatch.GetTimestamp();
            var url = named ? CustomUrl(_settings.Config.TunnelCustomUrl) : log.Url;
            Publish(session, r => r with
            {
                State = "running",
                Url = url,
                Since = DateTimeOffset.UtcNow,
                Message = url is null ? "running, URL not configured" : "running",
            });
            LogRunning(_logger, session.Mode, url ?? "(URL not configured)");
            await exited;
            await DrainAsync(stderr);
            return new Attempt($"cloudflared exited unexpectedly with code {process.ExitCode}{Detail(log.LastError ?? log.LastLine)}",
                Stopwatch.GetElapsedTime(runningSince));
        }
        finally
        {
            if (!HasExited(process))
            {
                _children.End(process);
                try
                {
                    await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
                }
                catch (TimeoutException)
                {
                }
            }
            session.Process = null;
            _ = stdout;
        }
    }

    private async Task ReadLogAsync(Session session, Process process, bool named, LogState log, TaskCompletionSource ready, CancellationToken token)
    {
        var registered = false;
        try
        {
            while (await process.StandardError.ReadLineAsync(token) is { } line)
            {
                LogLine(_logger, line);
                if (line.Length == 0)
                {
                    continue;
                }
                log.LastLine = TunnelLog.WithoutPrefix(line);
                if (TunnelLog.Error(line) is { } error)
                {
                    log.LastError = error;
                }
                if (!named && log.Url is null && TunnelLog.QuickTunnelUrl(line) is { } url)
                {
                    log.Url = url;
                    Publish(session, r => r with { Url = url });
                }
                registered |= TunnelLog.IsConnectionRegistered(line);
                if (registered && (named || log.Url is not null))
                {
                    ready.TrySetResult();
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    // The child is gone; its last lines may still be in the pipe (a grandchild holding it open must not stall us).
    private static async Task DrainAsync(Task reader)
    {
        try
        {
            await reader.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
        }
    }

    private void Publish(Session session, Func<RunState, RunState> change)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_session, session) && !session.Cts.IsCancellationRequested)
            {
                _run = change(_run);
            }
        }
    }

    private static string StartingMessage(string mode) => mode == Named ? "starting the named tunnel" : "starting a quick tunnel";

    private static string Detail(string? line) => string.IsNullOrEmpty(line) ? "" : ": " + line;

    /// <summary>The configured public address of a named tunnel; a bare host name means https.</summary>
    internal static string? CustomUrl(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        value = value.Trim().TrimEnd('/');
        return value.Contains("://", StringComparison.Ordinal) ? value : "https://" + value;
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private sealed record RunState(string State, string? Mode, string? Url, string Message, DateTimeOffset? Since, int? Pid,
        int Restarts, string? LastError, DateTimeOffset? NextRestartAt);

    private sealed record Attempt(string Error, TimeSpan Uptime);

    private sealed class Session(string mode, string origin, CancellationTokenSource cts)
    {
        public string Mode { get; } = mode;
        public string Origin { get; } = origin;
        public CancellationTokenSource Cts { get; } = cts;
        public Task Loop { get; set; } = Task.CompletedTask;
        public volatile Process? Process;
    }

    private sealed class LogState
    {
        public volatile string? Url;
        public volatile string? LastError;
        public volatile string? LastLine;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting cloudflared ({Mode} tunnel) as PID {Pid}")]
    private static partial void LogStarting(ILogger logger, string mode, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tunnel ({Mode}) running at {Url}")]
    private static partial void LogRunning(ILogger logger, string mode, string url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tunnel failed: {Error}; restarting in {Seconds} s")]
    private static partial void LogFailed(ILogger logger, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tunnel stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tunnel auto-start failed: {Reason}")]
    private static partial void LogAutoStartFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "cloudflared: {Line}")]
    private static partial void LogLine(ILogger logger, string line);
}
