using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// Runs turns on the Codex CLI. Preferred: one long-lived `codex app-server` (JSON-RPC over stdio)
/// with one thread per conversation, so a follow-up turn costs no process start and streams real
/// token deltas. Fallback for CLIs without app-server: `codex exec --json` per turn.
/// </summary>
public sealed partial class CodexProvider : ITurnProvider, ICliProcessOwner, IAsyncDisposable
{
    private readonly ServerSettings _settings;
    private readonly CliProbe _probe;
    private readonly ChildProcesses _children;
    private readonly ILogger<CodexProvider> _logger;
    private readonly CodexProviderOptions _options;
    private readonly SemaphoreSlim _modeLock = new(1, 1);
    private readonly CodexAppServerSupervisor _appServer;
    private readonly CodexThreadTable _threads;
    private readonly CodexExec _exec;
    private readonly MemoryBudget? _budget;
    private readonly CodexCertificates _certificates;
    private volatile string? _mode;

    /// <summary>
    /// The codex version whose upstream refused our base instructions, so threads keep Codex's own. Kept in memory
    /// only: after a restart the first refused request finds out again (and is still answered).
    /// </summary>
    private volatile string? _instructionsFallbackVersion;

    /// <summary>The app-server start whose account has been read (login state for /health).</summary>
    private int _accountReadGeneration;
    private volatile bool _disposed;
    private int _disposeCount;

    public CodexProvider(ServerSettings settings, CliProbe probe, ChildProcesses children, ModelCatalog catalog,
        ILogger<CodexProvider> logger, CodexProviderOptions? options = null, MemoryBudget? budget = null, UsageWindows? usage = null)
    {
        _settings = settings;
        _probe = probe;
        _children = children;
        _logger = logger;
        _options = options ?? new CodexProviderOptions();
        _options.UsageWindows ??= usage;
        // The table and the supervisor know each other: the table's lambda runs only once both are set.
        _threads = new CodexThreadTable(settings, _options, logger, () => _appServer!.Current, () => _disposed);
        _appServer = new CodexAppServerSupervisor(settings, children, catalog, _options, logger, budget,
            _threads.RemoveStaleScratchDirs, () => _disposed);
        _exec = new CodexExec(settings, children, _options, logger);
        _certificates = new CodexCertificates(settings.DataDir, _options.Environment, logger);
        _budget = budget;
        budget?.AddOwner(this);
        settings.Changed += OnConfigChanged;
    }

    /// <summary>A new codexPath: the running app-server is retired once no turn runs on it.</summary>
    private void OnConfigChanged(ServerConfig before, ServerConfig after)
    {
        if (before.CodexPath != after.CodexPath)
        {
            _appServer.Retire();
        }
    }

    public ProviderKind Kind => ProviderKind.Codex;

    /// <summary>"app-server" or "exec" once known.</summary>
    public string? Mode => _mode;

    /// <summary>Threads started ahead and waiting for a new conversation.</summary>
    public int SpareCount => _threads.SpareCount;

    /// <summary>The PID of the running app-server, if one runs.</summary>
    public int? AppServerPid => _appServer.Current is { IsAlive: true } s ? s.Pid : null;

    /// <summary>App-server exits this provider has handled (reported or not): tests wait on it, not on time.</summary>
    public int AppServerExitsHandled => _appServer.ExitsHandled;

    /// <summary>
    /// The app-server counts toward the memory budget but is never ended for it: it holds every
    /// Codex conversation. An exec-mode process lives for one turn, covered by that turn's reservation.
    /// </summary>
    public IReadOnlyList<CliProcessEntry> CliProcesses() => _appServer.Current is { IsAlive: true } server
        ? [new CliProcessEntry(server.Pid, "codex", "app-server", false, DateTimeOffset.UtcNow, server.StartedAt)]
        : [];

    public bool EndIdle(int pid) => false;

    public bool NeedsNewProcess(TurnRequest request) => _mode == CodexMode.Exec || _appServer.Current is not { IsAlive: true, Retired: false };

    public async IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The turn runs as its own task writing to a channel, so it can clean up (interrupt the
        // turn, release the thread) after the caller has stopped listening.
        var events = Channel.CreateUnbounded<TurnEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = ProduceAsync(request, events.Writer, stop);
        try
        {
            await foreach (var e in events.Reader.ReadAllAsync(cancellationToken))
            {
                yield return e;
            }
        }
        finally
        {
            if (!producer.IsCompleted)
            {
                // The caller left early (cancelled or stopped enumerating): the turn must stop upstream too.
                try
                {
                    await stop.CancelAsync();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
    }

    private async Task ProduceAsync(TurnRequest request, ChannelWriter<TurnEvent> events, CancellationTokenSource stop)
    {
        try
        {
            await RunTurnAsync(request, events, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Whatever went wrong, the caller gets a terminal event rather than a stream that just stops. What
            // codex said (its stderr, paths, addresses) is for the operator's log, not for every key holder.
            LogTurnFailed(_logger, e.GetType().Name, e.Message);
            if (e is TimeoutException)
            {
                _appServer.EndHung();
            }
            events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed,
                e is TimeoutException ? "the codex app-server stopped answering and was restarted; retry the request" : "the Codex CLI failed; the server log has the details")));
        }
        finally
        {
            events.TryComplete();
            stop.Dispose();
        }
    }

    private async Task RunTurnAsync(TurnRequest request, ChannelWriter<TurnEvent> events, CancellationToken cancellationToken)
    {
        if (request.Messages.Count == 0)
        {
            events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.InvalidRequest, "there is no message to send")));
            return;
        }
        var path = _probe.CodexPath;
        if (path is null)
        {
            events.TryWrite(TurnEnded.Failed(NotInstalled("codex was not found on PATH")));
            return;
        }
        if (!ModelName.IsValid(request.Model.CliModel))
        {
            events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.InvalidRequest, "invalid model name")));
            return;
        }
        var launch = LaunchFor(path);
        string mode;
        try
        {
            mode = await DetectModeAsync(launch, cancellationToken);
        }
        catch (Win32Exception e)
        {
            events.TryWrite(TurnEnded.Failed(NotInstalled($"cannot run {path}: {e.Message}")));
            return;
        }
        if (mode == CodexMode.Exec)
        {
            if (CodexThreadSettings.DeclaredTools(request).Count > 0)
            {
                // codex exec has no way to hand a call back to us: running the turn without the tools would answer a different question.
                events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.InvalidRequest,
                    "client tools need codex app-server (a newer Codex CLI); this one runs in exec mode, which cannot hand tool calls back")));
                return;
            }
            await _exec.RunTurnAsync(launch, request, events, cancellationToken);
            return;
        }

        // A fallback found for another codex version may not be needed by this one.
        _threads.CodexBaseInstructions = _instructionsFallbackVersion is { } fallbackFor && fallbackFor == (_probe.Codex.Version ?? "");

        CodexAppServer server;
        try
        {
            server = await AppServerAsync(launch, cancellationToken);
        }
        catch (Win32Exception e)
        {
            events.TryWrite(TurnEnded.Failed(NotInstalled($"cannot run {path}: {e.Message}")));
            return;
        }

        CodexThread? session = null;
        for (var attempt = 0; session is null; attempt++)
        {
            var (found, error) = await _threads.ResolveAsync(server, request, cancellationToken);
            if (found is null)
            {
                events.TryWrite(TurnEnded.Failed(error!));
                return;
            }
            await found.Lock.WaitAsync(cancellationToken);
            if (found.Ended && attempt == 0)
            {
                // Unloaded while we waited for it: resolving again resumes it.
                found.Lock.Release();
                continue;
            }
            session = found;
        }

        var releaseLock = true;
        try
        {
            if (session.Generation != server.Generation || !server.IsAlive)
            {
                // The process died while this turn waited for the thread.
                events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed, "the codex app-server exited; try again")));
                return;
            }
            // A new conversation took the spare thread (or started one): the next one gets a spare, started once
            // this turn has its first output so the two do not compete for the CPU while the caller waits.
            var refill = request.SessionId is null ? () => _threads.RefillSpare(server, request) : (Action?)null;
            var turn = new CodexAppServerTurn(server, session, _logger, _options.RequestTimeout, _appServer.EndHung)
            {
                // A live conversation may hold a thread started before the fallback; a replay of it cannot loop, as its new thread is a new conversation.
                MayFallBack = (request.SessionId is not null || !_threads.CodexBaseInstructions) && !CodexThreadSettings.IsAgentMode(_settings.Config),
            };
            releaseLock = await turn.RunAsync(request, events, refill, cancellationToken);
            if (turn.InstructionsRefused)
            {
                UseCodexBaseInstructions();
                session.Lock.Release();
                releaseLock = false;
                await _threads.EndAsync(session.ThreadId);
                if (request.SessionId is null)
                {
                    await RunTurnAsync(request, events, cancellationToken);
                }
                else
                {
                    // A conversation begun before the upstream refused our instructions: its thread keeps them for
                    // life, so the history goes again into a new thread that has Codex's own (TurnRun replays it).
                    events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.SessionNotFound,
                        $"thread {session.ThreadId} has instructions the model upstream now refuses")));
                }
                return;
            }
        }
        finally
        {
            if (releaseLock)
            {
                session.Lock.Release();
            }
        }
    }

    /// <summary>
    /// Starts the app-server ahead of the first turn (warm at start), when codex is installed, runs in
    /// app-server mode and fits in free memory. False when nothing was started.
    /// </summary>
    public async Task<bool> WarmAsync(CancellationToken cancellationToken)
    {
        if (_probe.CodexPath is not { } path)
        {
            return false;
        }
        var launch = LaunchFor(path);
        if (await DetectModeAsync(launch, cancellationToken) != CodexMode.AppServer)
        {
            return false;
        }
        using var room = _budget?.TryReserve("codex");
        if (_budget is not null && room is null)
        {
            return false;
        }
        await AppServerAsync(launch, cancellationToken);
        return true;
    }

    /// <summary>The running app-server (started if need be); each new one is asked once for codex's login (account/read).</summary>
    private async Task<CodexAppServer> AppServerAsync(CodexLaunch launch, CancellationToken cancellationToken)
    {
        var server = await _appServer.GetAsync(launch, cancellationToken);
        if (Interlocked.Exchange(ref _accountReadGeneration, server.Generation) != server.Generation)
        {
            _ = ReadAccountAsync(server);
        }
        return server;
    }

    private async Task ReadAccountAsync(CodexAppServer server)
    {
        try
        {
            var result = await server.Rpc.RequestAsync("account/read", _ => { }, _options.RequestTimeout, CancellationToken.None);
            var (login, loggedIn) = CodexProtocol.ReadAccount(result);
            _probe.SetCodexLogin(login, loggedIn);
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException or ObjectDisposedException)
        {
            LogAccountReadFailed(_logger, e.Message);
        }
    }

    private void UseCodexBaseInstructions()
    {
        var version = _probe.Codex.Version ?? "";
        if (_instructionsFallbackVersion != version)
        {
            _instructionsFallbackVersion = version;
            LogInstructionsFallback(_logger, version.Length > 0 ? version : "unknown version");
        }
        _threads.CodexBaseInstructions = true;
        _probe.SetCodexInstructionsFallback(true);
    }

    /// <summary>
    /// The native binary behind the npm wrapper, looked up again only when codexPath changes; and codex's
    /// certificates in one file, written again before the turn if their sources changed.
    /// </summary>
    private CodexLaunch LaunchFor(string path)
    {
        if (_launch is { } known && known.Path == path)
        {
            _certificates.Refresh();
            return known.Launch;
        }
        var launch = CodexLaunch.For(path, _certificates.Environment());
        _launch = new LaunchOfPath(path, launch);
        if (launch.Native)
        {
            LogNative(_logger, launch.File);
        }
        return launch;
    }

    private volatile LaunchOfPath? _launch;

    private sealed record LaunchOfPath(string Path, CodexLaunch Launch);

    private async Task<string> DetectModeAsync(CodexLaunch launch, CancellationToken cancellationToken)
    {
        if (_mode is { } known)
        {
            return known;
        }
        await _modeLock.WaitAsync(cancellationToken);
        try
        {
            if (_mode is { } again)
            {
                return again;
            }
            if (_options.ForceMode is CodexMode.AppServer or CodexMode.Exec)
            {
                _mode = _options.ForceMode;
                _probe.SetCodexMode(_options.ForceMode);
                return _options.ForceMode;
            }
            var mode = await CodexMode.DetectAsync(_children, launch, cancellationToken);
            _mode = mode;
            _probe.SetCodexMode(mode);
            LogMode(_logger, mode);
            return mode;
        }
        finally
        {
            _modeLock.Release();
        }
    }

    public ValueTask EndSessionAsync(string sessionId) => _threads.EndAsync(sessionId);

    /// <summary>Also has codex delete the thread's rollout (its transcript under CODEX_HOME/sessions), loaded or not.</summary>
    public ValueTask DeleteSessionAsync(string sessionId) => _threads.DeleteAsync(sessionId);

    private static ProviderError NotInstalled(string detail) => new(ProviderErrorKind.NotInstalled,
        $"the Codex CLI is not available ({detail})", CliProbe.InstallHint("codex"));

    public async ValueTask DisposeAsync()
    {
        // The container may dispose us twice: as CodexProvider and as ITurnProvider.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }
        _disposed = true;
        _settings.Changed -= OnConfigChanged;
        await _appServer.DisposeAsync();
        _threads.Clear();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model upstream refused our instructions as Codex base instructions ({Version}): chat threads keep Codex's own base instructions and get the caller's as developer instructions")]
    private static partial void LogInstructionsFallback(ILogger logger, string version);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reading codex's account (login state) failed: {Reason}")]
    private static partial void LogAccountReadFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Codex starts as its native binary {Path} (the npm wrapper would only run it)")]
    private static partial void LogNative(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Codex runs in {Mode} mode")]
    private static partial void LogMode(ILogger logger, string mode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A Codex turn failed: {Type}: {Message}")]
    private static partial void LogTurnFailed(ILogger logger, string type, string message);
}
