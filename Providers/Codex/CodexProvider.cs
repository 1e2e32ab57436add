using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

public sealed class CodexProviderOptions
{
    /// <summary>Extra environment for the codex child (tests point it at a mock model server); null keeps ours.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>How long a JSON-RPC request (initialize, thread/start, turn/start ...) may take to be answered.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public int MaxLineBytes { get; init; } = JsonRpcLineClient.DefaultMaxLineBytes;

    /// <summary>Threads kept loaded at once; the least recently used idle ones beyond are unloaded (and resumed when used again).</summary>
    public int MaxLiveSessions { get; init; } = 256;

    /// <summary>"app-server" or "exec" to skip detection; null detects from `codex --help`.</summary>
    public string? ForceMode { get; init; }
}

/// <summary>
/// Runs turns on the Codex CLI. Preferred: one long-lived `codex app-server` (JSON-RPC over stdio)
/// with one thread per conversation, so a follow-up turn costs no process start and streams real
/// token deltas. Fallback for CLIs without app-server: `codex exec --json` per turn.
/// </summary>
public sealed partial class CodexProvider : ITurnProvider, ICliProcessOwner, IAsyncDisposable
{
    private const string DefaultBaseInstructions = "You are a helpful assistant.";
    private const int MaxSpareKeys = 8;
    private static readonly TimeSpan InterruptDrain = TimeSpan.FromSeconds(5);

    private readonly ServerSettings _settings;
    private readonly CliProbe _probe;
    private readonly ChildProcesses _children;
    private readonly ModelCatalog _catalog;
    private readonly ILogger<CodexProvider> _logger;
    private readonly CodexProviderOptions _options;
    private readonly MemoryBudget? _budget;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly ConcurrentDictionary<string, CodexSession> _sessions = new(StringComparer.Ordinal);
    // One thread started ahead per (model, instructions) in use, so a new conversation does not wait for thread/start.
    private readonly ConcurrentDictionary<SpareKey, CodexSession> _spares = new();
    private readonly ConcurrentDictionary<SpareKey, byte> _refilling = new();
    private volatile AppServer? _server;
    private volatile string? _mode;
    private int _generation;
    private int _quickDeaths;
    private int _exitsHandled;
    private volatile bool _disposed;
    private int _disposeCount;

    public CodexProvider(ServerSettings settings, CliProbe probe, ChildProcesses children, ModelCatalog catalog,
        ILogger<CodexProvider> logger, CodexProviderOptions? options = null, MemoryBudget? budget = null)
    {
        _settings = settings;
        _probe = probe;
        _children = children;
        _catalog = catalog;
        _logger = logger;
        _options = options ?? new CodexProviderOptions();
        _budget = budget;
        budget?.AddOwner(this);
        settings.Changed += OnConfigChanged;
    }

    /// <summary>
    /// A new codexPath: the app-server of the old codex (and the spare threads in it) ends as soon
    /// as no turn runs on it; the next turn starts the new one, where conversations resume.
    /// </summary>
    private void OnConfigChanged(ServerConfig before, ServerConfig after)
    {
        if (before.CodexPath != after.CodexPath && _server is { } old)
        {
            _ = RetireAsync(old);
        }
    }

    private async Task RetireAsync(AppServer old)
    {
        old.Retired = true;
        while (old.IsAlive && !old.Subscriptions.IsEmpty && !_disposed)
        {
            await Task.Delay(250);
        }
        LogRetired(_logger, old.Pid);
        _children.End(old.Process);
    }

    public ProviderKind Kind => ProviderKind.Codex;

    /// <summary>"app-server" or "exec" once known.</summary>
    public string? Mode => _mode;

    /// <summary>Threads started ahead and waiting for a new conversation.</summary>
    public int SpareCount => _spares.Count;

    /// <summary>The PID of the running app-server, if one runs.</summary>
    public int? AppServerPid => _server is { IsAlive: true } s ? s.Pid : null;

    /// <summary>App-server exits this provider has handled (reported or not): tests wait on it, not on time.</summary>
    public int AppServerExitsHandled => Volatile.Read(ref _exitsHandled);

    private string ScratchRoot => ScratchDirectory.Root(_settings.DataDir);

    /// <summary>
    /// The app-server counts toward the memory budget but is never ended for it: it holds every
    /// Codex conversation. An exec-mode process lives for one turn, covered by that turn's reservation.
    /// </summary>
    public IReadOnlyList<CliProcessEntry> CliProcesses() => _server is { IsAlive: true } server
        ? [new CliProcessEntry(server.Pid, "codex", "app-server", false, DateTimeOffset.UtcNow, server.StartedAt)]
        : [];

    public bool EndIdle(int pid) => false;

    public bool NeedsNewProcess(TurnRequest request) => _mode == "exec" || _server is not { IsAlive: true, Retired: false };

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
                EndHungServer();
            }
            events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed,
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
            events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.InvalidRequest, "there is no message to send")));
            return;
        }
        var path = _probe.CodexPath;
        if (path is null)
        {
            events.TryWrite(new TurnFailed(NotInstalled("codex was not found on PATH")));
            return;
        }
        if (!ModelName.IsValid(request.Model.CliModel))
        {
            events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.InvalidRequest, "invalid model name")));
            return;
        }
        string mode;
        try
        {
            mode = await DetectModeAsync(path, cancellationToken);
        }
        catch (Win32Exception e)
        {
            events.TryWrite(new TurnFailed(NotInstalled($"cannot run {path}: {e.Message}")));
            return;
        }
        if (mode == "exec")
        {
            await RunExecTurnAsync(path, request, events, cancellationToken);
            return;
        }

        AppServer server;
        try
        {
            server = await GetServerAsync(path, cancellationToken);
        }
        catch (Win32Exception e)
        {
            events.TryWrite(new TurnFailed(NotInstalled($"cannot run {path}: {e.Message}")));
            return;
        }

        CodexSession? session = null;
        for (var attempt = 0; session is null; attempt++)
        {
            var (found, error) = await ResolveSessionAsync(server, request, cancellationToken);
            if (found is null)
            {
                events.TryWrite(new TurnFailed(error!));
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
                events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed, "the codex app-server exited; try again")));
                return;
            }
            // A new conversation took the spare thread (or started one): the next one gets a spare, started once
            // this turn has its first output so the two do not compete for the CPU while the caller waits.
            var refill = request.SessionId is null ? () => RefillSpare(server, request) : (Action?)null;
            releaseLock = await RunThreadTurnAsync(server, session, request, events, refill, cancellationToken);
        }
        finally
        {
            if (releaseLock)
            {
                session.Lock.Release();
            }
        }
    }

    /// <returns>False when the lock is handed on to a task that waits for an interrupted turn to wind down.</returns>
    private async Task<bool> RunThreadTurnAsync(AppServer server, CodexSession session, TurnRequest request, ChannelWriter<TurnEvent> events,
        Action? afterFirstOutput, CancellationToken cancellationToken)
    {
        void Output(TurnEvent e)
        {
            events.TryWrite(e);
            if (afterFirstOutput is { } then)
            {
                afterFirstOutput = null;
                then();
            }
        }

        var notifications = Channel.CreateUnbounded<JsonElement>(new UnboundedChannelOptions { SingleReader = true });
        server.Subscriptions[session.ThreadId] = notifications;
        var handedOn = false;
        try
        {
            JsonElement started;
            try
            {
                // Not cancelled midway: once codex has the turn we need its id to interrupt it.
                started = await StartTurnAsync(server, session, request, CancellationToken.None);
            }
            catch (JsonRpcException e)
            {
                events.TryWrite(new TurnFailed(CodexProtocol.IsUnknownModel(e.Message) ? CodexProtocol.UnknownModel(e.Message)
                    : new ProviderError(ProviderErrorKind.InvalidRequest, "Codex refused the turn: " + ErrorText.WithoutAddresses(e.Message))));
                return true;
            }
            var turnId = CodexProtocol.Str(CodexProtocol.Prop(started, "turn"), "id")
                ?? throw new InvalidOperationException("turn/start answered without a turn id");

            if (cancellationToken.IsCancellationRequested)
            {
                handedOn = true;
                _ = InterruptAsync(server, session, notifications, turnId);
                cancellationToken.ThrowIfCancellationRequested();
            }

            var itemsWithDeltas = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                JsonElement message;
                try
                {
                    message = await notifications.Reader.ReadAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    handedOn = true;
                    _ = InterruptAsync(server, session, notifications, turnId);
                    throw;
                }
                catch (ChannelClosedException)
                {
                    events.TryWrite(new TurnFailed(Crashed(server)));
                    return true;
                }

                var method = CodexProtocol.Str(message, "method");
                var p = CodexProtocol.Prop(message, "params");
                if (CodexProtocol.Str(p, "turnId") is { } forTurn && forTurn != turnId)
                {
                    continue;
                }
                switch (method)
                {
                    case "item/agentMessage/delta":
                        if (CodexProtocol.Str(p, "delta") is { Length: > 0 } delta)
                        {
                            if (CodexProtocol.Str(p, "itemId") is { } itemId)
                            {
                                itemsWithDeltas.Add(itemId);
                            }
                            Output(new TextDelta(delta));
                        }
                        break;
                    case "item/reasoning/summaryTextDelta" or "item/reasoning/textDelta":
                        if (CodexProtocol.Str(p, "delta") is { Length: > 0 } reasoning)
                        {
                            Output(new ReasoningDelta(reasoning));
                        }
                        break;
                    case "item/completed":
                        {
                            // A message that arrived whole, without deltas, still reaches the caller.
                            var item = CodexProtocol.Prop(p, "item");
                            if (CodexProtocol.Str(item, "type") != "userMessage")
                            {
                                events.TryWrite(CliActivity.Instance);
                            }
                            if (CodexProtocol.Str(item, "type") == "agentMessage"
                                && CodexProtocol.Str(item, "id") is { } id && !itemsWithDeltas.Contains(id)
                                && CodexProtocol.Str(item, "text") is { Length: > 0 } whole)
                            {
                                Output(new TextDelta(whole));
                            }
                            break;
                        }
                    case "thread/tokenUsage/updated":
                        if (CodexProtocol.ReadUsage(p) is { } usage)
                        {
                            events.TryWrite(new UsageReport(usage));
                        }
                        break;
                    case "error":
                        {
                            events.TryWrite(CliActivity.Instance);
                            var turnError = CodexProtocol.Prop(p, "error");
                            LogTurnError(_logger, session.ThreadId, CodexProtocol.Str(turnError, "message") ?? "", p.TryGetProperty("willRetry", out var wr) && wr.ValueKind == JsonValueKind.True);
                            if (CodexProtocol.IsUnauthorized(turnError))
                            {
                                // Codex would retry a refused credential for ~7 s; the answer will not change.
                                handedOn = true;
                                _ = InterruptAsync(server, session, notifications, turnId);
                                events.TryWrite(new TurnFailed(CodexProtocol.Classify(turnError)));
                                return false;
                            }
                            break;
                        }
                    case "turn/completed":
                        {
                            var turn = CodexProtocol.Prop(p, "turn");
                            if (CodexProtocol.Str(turn, "id") is { } completedId && completedId != turnId)
                            {
                                break;
                            }
                            var status = CodexProtocol.Str(turn, "status");
                            if (status == "completed")
                            {
                                events.TryWrite(new TurnCompleted("stop", session.ThreadId));
                            }
                            else
                            {
                                var turnError = CodexProtocol.Prop(turn, "error");
                                events.TryWrite(new TurnFailed(turnError.ValueKind == JsonValueKind.Object
                                    ? CodexProtocol.Classify(turnError)
                                    : new ProviderError(ProviderErrorKind.Upstream, $"the Codex turn ended as {status ?? "unknown"}")));
                            }
                            return true;
                        }
                    case "item/started" or "item/updated" when CodexProtocol.Str(CodexProtocol.Prop(p, "item"), "type") != "userMessage":
                    case not null when method.EndsWith("Delta", StringComparison.Ordinal):
                        // The model at work (a reasoning item begun, a command's output): not hung. turn/started and the
                        // echo of our own message come before the upstream has answered, so they do not count.
                        events.TryWrite(CliActivity.Instance);
                        break;
                }
            }
        }
        finally
        {
            if (!handedOn)
            {
                server.Subscriptions.TryRemove(new KeyValuePair<string, Channel<JsonElement>>(session.ThreadId, notifications));
            }
            afterFirstOutput?.Invoke();
        }
    }

    private Task<JsonElement> StartTurnAsync(AppServer server, CodexSession session, TurnRequest request, CancellationToken cancellationToken) =>
        server.Rpc.RequestAsync("turn/start", w =>
        {
            w.WriteString("threadId", session.ThreadId);
            CodexProtocol.WriteInput(w, request.Messages);
            w.WriteString("model", request.Model.CliModel);
            if (!string.IsNullOrEmpty(request.ReasoningEffort))
            {
                w.WriteString("effort", request.ReasoningEffort);
            }
            if (request.OutputSchema is { } schema)
            {
                w.WritePropertyName("outputSchema");
                schema.WriteTo(w);
            }
        }, _options.RequestTimeout, cancellationToken);

    /// <summary>Stops a turn upstream, then keeps the thread locked until codex says the turn ended.</summary>
    private async Task InterruptAsync(AppServer server, CodexSession session, Channel<JsonElement> notifications, string turnId)
    {
        try
        {
            await server.Rpc.RequestAsync("turn/interrupt", w =>
            {
                w.WriteString("threadId", session.ThreadId);
                w.WriteString("turnId", turnId);
            }, InterruptDrain, CancellationToken.None);
            using var drain = new CancellationTokenSource(InterruptDrain);
            while (true)
            {
                var message = await notifications.Reader.ReadAsync(drain.Token);
                if (CodexProtocol.Str(message, "method") == "turn/completed")
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException or OperationCanceledException or ChannelClosedException)
        {
            LogInterruptFailed(_logger, session.ThreadId, e.Message);
            if (e is TimeoutException)
            {
                EndHungServer();
            }
        }
        finally
        {
            server.Subscriptions.TryRemove(new KeyValuePair<string, Channel<JsonElement>>(session.ThreadId, notifications));
            session.Lock.Release();
        }
    }

    private async Task<(CodexSession? Session, ProviderError? Error)> ResolveSessionAsync(AppServer server, TurnRequest request, CancellationToken cancellationToken)
    {
        if (request.SessionId is null)
        {
            try
            {
                var fresh = TakeSpare(server, request) ?? await StartThreadAsync(server, request, cancellationToken);
                fresh.LastUsed = Stopwatch.GetTimestamp();
                _sessions[fresh.ThreadId] = fresh;
                EvictIdleSessions();
                return (fresh, null);
            }
            catch (JsonRpcException e) when (!AgentMode && e.Message.Contains("config", StringComparison.OrdinalIgnoreCase))
            {
                // Without these settings a chat thread would get codex's shell and the user's MCP servers: no answer beats that.
                LogChatConfigRefused(_logger, e.Message);
                return (null, new ProviderError(ProviderErrorKind.Unavailable,
                    "Codex refused the settings that keep chat threads free of tools, MCP servers and hooks, so the turn was not run; the server log has codex's reason."));
            }
            catch (JsonRpcException e)
            {
                return (null, new ProviderError(ProviderErrorKind.InvalidRequest, "Codex refused to start a thread: " + ErrorText.WithoutAddresses(e.Message)));
            }
        }
        if (_sessions.TryGetValue(request.SessionId, out var known) && known.Generation == server.Generation)
        {
            known.LastUsed = Stopwatch.GetTimestamp();
            return (known, null);
        }

        // A thread of an earlier process (ours, or before a restart of the whole server): codex
        // keeps non-ephemeral threads on disk, so resume it.
        var scratch = known?.ScratchDir ?? NewScratchDir();
        try
        {
            var mcpServers = await McpServersToDisableAsync(server, scratch, cancellationToken);
            await server.Rpc.RequestAsync("thread/resume", w =>
            {
                w.WriteString("threadId", request.SessionId);
                WriteThreadSettings(w, request, scratch, mcpServers);
                w.WriteBoolean("excludeTurns", true);
            }, _options.RequestTimeout, cancellationToken);
        }
        catch (JsonRpcException e)
        {
            LogResumeFailed(_logger, request.SessionId, e.Message);
            if (known is null)
            {
                DeleteDir(scratch);
            }
            else
            {
                _sessions.TryRemove(request.SessionId, out _);
                DeleteDir(known.ScratchDir);
            }
            return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"Codex thread {request.SessionId} is neither live nor resumable"));
        }
        var session = known ?? _sessions.GetOrAdd(request.SessionId, id => new CodexSession(id, scratch));
        session.Generation = server.Generation;
        session.LastUsed = Stopwatch.GetTimestamp();
        EvictIdleSessions();
        return (session, null);
    }

    private async Task<CodexSession> StartThreadAsync(AppServer server, TurnRequest request, CancellationToken cancellationToken)
    {
        var scratch = NewScratchDir();
        try
        {
            var mcpServers = await McpServersToDisableAsync(server, scratch, cancellationToken);
            var result = await server.Rpc.RequestAsync("thread/start", w =>
            {
                WriteThreadSettings(w, request, scratch, mcpServers);
                // Kept on disk so a thread outlives a restart of the app-server (thread/resume).
                w.WriteBoolean("ephemeral", false);
            }, _options.RequestTimeout, cancellationToken);
            var threadId = CodexProtocol.Str(CodexProtocol.Prop(result, "thread"), "id")
                ?? throw new InvalidOperationException("thread/start answered without a thread id");
            return new CodexSession(threadId, scratch) { Generation = server.Generation };
        }
        catch
        {
            DeleteDir(scratch);
            throw;
        }
    }

    private SpareKey SpareKeyOf(TurnRequest request) =>
        new(request.Model.CliModel, request.Instructions ?? "", AgentMode ? _settings.Config.AgentWorkingDirectory : null);

    private CodexSession? TakeSpare(AppServer server, TurnRequest request)
    {
        if (!_spares.TryRemove(SpareKeyOf(request), out var spare))
        {
            return null;
        }
        if (spare.Generation != server.Generation)
        {
            DeleteDir(spare.ScratchDir);
            return null;
        }
        return spare;
    }

    /// <summary>Starts the thread the next new conversation with these settings takes, unless one is there or on its way.</summary>
    private void RefillSpare(AppServer server, TurnRequest request)
    {
        var key = SpareKeyOf(request);
        if (_disposed || !server.IsAlive || _spares.ContainsKey(key) || !_refilling.TryAdd(key, 0))
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                var spare = await StartThreadAsync(server, request, CancellationToken.None);
                if (!_spares.TryAdd(key, spare))
                {
                    await UnloadAsync(spare);
                }
                else if (_disposed && _spares.TryRemove(new KeyValuePair<SpareKey, CodexSession>(key, spare)))
                {
                    // Disposed while it started: DisposeAsync may have cleared the spares already.
                    DeleteDir(spare.ScratchDir);
                }
                while (_spares.Count > MaxSpareKeys
                    && _spares.MinBy(s => s.Value.LastUsed) is { Key: var oldest } && _spares.TryRemove(oldest, out var dropped))
                {
                    await UnloadAsync(dropped);
                }
            }
            catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException or InvalidOperationException or ObjectDisposedException)
            {
                LogSpareFailed(_logger, e.Message);
            }
            finally
            {
                _refilling.TryRemove(key, out _);
            }
        });
    }

    private bool AgentMode => _settings.Config.Mode == "agent";

    /// <summary>
    /// The MCP servers codex would start for a chat thread in <paramref name="cwd"/> (the user's config and
    /// any project layer), each to be switched off by name: an empty `mcp_servers` override is merged
    /// into the user's table, not put in its place (checked with codex 0.169). Read for every thread, so
    /// a server added to the config since is off too. None in agent mode: there the operator's tools are meant.
    /// </summary>
    private async Task<IReadOnlyList<string>> McpServersToDisableAsync(AppServer server, string cwd, CancellationToken cancellationToken)
    {
        if (AgentMode)
        {
            return [];
        }
        JsonElement result;
        try
        {
            result = await server.Rpc.RequestAsync("config/read", w => w.WriteString("cwd", cwd), _options.RequestTimeout, cancellationToken);
        }
        catch (JsonRpcException e)
        {
            // Without the list a chat thread could start the user's MCP servers: a chat config refusal.
            throw new JsonRpcException(e.Code, "reading the effective config failed: " + e.Message);
        }
        var servers = CodexProtocol.Prop(CodexProtocol.Prop(result, "config"), "mcp_servers");
        return servers.ValueKind == JsonValueKind.Object ? [.. servers.EnumerateObject().Select(p => p.Name)] : [];
    }

    private void WriteThreadSettings(Utf8JsonWriter w, TurnRequest request, string scratch, IReadOnlyList<string> mcpServers)
    {
        w.WriteString("model", request.Model.CliModel);
        w.WriteString("approvalPolicy", "never");
        if (AgentMode)
        {
            // The operator chose an agent: Codex's own prompt and tools, writing inside the configured folder only.
            w.WriteString("cwd", _settings.Config.AgentWorkingDirectory);
            w.WriteString("sandbox", "workspace-write");
            if (!string.IsNullOrEmpty(request.Instructions))
            {
                w.WriteString("developerInstructions", request.Instructions);
            }
            return;
        }
        w.WriteString("cwd", scratch);
        w.WriteString("sandbox", "read-only");
        // Our caller's instructions replace the coding-agent prompt: plain chat need not pay for it.
        w.WriteString("baseInstructions", string.IsNullOrEmpty(request.Instructions) ? DefaultBaseInstructions : request.Instructions);
        WriteChatConfig(w, mcpServers);
    }

    /// <summary>
    /// Config overrides that leave codex's agent machinery out of a chat thread. By default every
    /// request carries ~17 KB of tool definitions (shell, multi-agent, goals, web search, user
    /// questions, image viewer) and ~3 KB of skills, permissions and environment context, which a
    /// read-only thread that approves nothing cannot use; without them a plain turn is ~1.7 KB.
    /// The environment context also held the date and the scratch path: like the OpenAI API, we
    /// leave the date to the caller's system message. Nothing of the operator's runs for a chat
    /// thread either: no MCP server, no hook, no `notify` program. (Profiles need `--profile`, which
    /// we never pass; codex 0.169 refuses a `profile` key in config.toml.)
    /// </summary>
    internal static void WriteChatConfig(Utf8JsonWriter w, IReadOnlyList<string> mcpServers)
    {
        w.WriteStartObject("config");
        w.WriteStartObject("features");
        // The rest cost time at each turn's start (about 5 ms together for the second group, measured with
        // codex 0.169) and give a tool-less thread that approves nothing nothing; with hooks off, no
        // hook of the user's codex config runs for an API request either.
        foreach (var feature in (ReadOnlySpan<string>)["multi_agent", "goals", "unified_exec", "shell_tool", "view_image",
            "shell_snapshot", "apps", "plugins",
            "skill_search", "hooks", "tool_suggest", "sleep_tool", "guardian_approval", "workspace_dependencies", "mentions_v2"])
        {
            w.WriteBoolean(feature, false);
        }
        w.WriteEndObject();
        w.WriteString("web_search", "disabled");
        w.WriteBoolean("include_permissions_instructions", false);
        w.WriteBoolean("include_environment_context", false);
        w.WriteStartObject("skills");
        w.WriteBoolean("include_instructions", false);
        w.WriteEndObject();
        w.WriteStartObject("tools");
        w.WriteStartObject("experimental_request_user_input");
        w.WriteBoolean("enabled", false);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("mcp_servers");
        foreach (var name in mcpServers)
        {
            w.WriteStartObject(name);
            w.WriteBoolean("enabled", false);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("notify");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private string NewScratchDir()
    {
        return ScratchDirectory.Create(_settings.DataDir, $"codex-{Guid.NewGuid():N}");
    }

    /// <summary>Scratch folders of an earlier run: a resumed thread gets a new one.</summary>
    private void RemoveStaleScratchDirs()
    {
        if (!Directory.Exists(ScratchRoot))
        {
            return;
        }
        var live = _sessions.Values.Concat(_spares.Values).Select(s => s.ScratchDir).ToHashSet(StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(ScratchRoot, "codex-*"))
        {
            if (!live.Contains(dir))
            {
                DeleteDir(dir);
            }
        }
    }

    private static void DeleteDir(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Keeps the number of loaded threads bounded. An evicted thread stays on disk, so a later
    /// turn on it resumes it: eviction costs a resume, never the conversation.
    /// </summary>
    private void EvictIdleSessions()
    {
        var excess = _sessions.Count - _options.MaxLiveSessions;
        if (excess <= 0)
        {
            return;
        }
        var idle = _sessions.Values.Where(s => s.Lock.CurrentCount == 1).OrderBy(s => s.LastUsed).Take(excess).ToList();
        foreach (var session in idle)
        {
            LogEvicted(_logger, session.ThreadId);
            _ = EndSessionAsync(session.ThreadId).AsTask();
        }
    }

    public async ValueTask EndSessionAsync(string sessionId)
    {
        if (!_sessions.TryRemove(sessionId, out var session))
        {
            return;
        }
        session.Ended = true;
        await UnloadAsync(session);
    }

    /// <summary>Also has codex delete the thread's rollout (its transcript under CODEX_HOME/sessions), loaded or not.</summary>
    public async ValueTask DeleteSessionAsync(string sessionId)
    {
        await EndSessionAsync(sessionId);
        if (_server is not { IsAlive: true } server)
        {
            return;
        }
        try
        {
            await server.Rpc.RequestAsync("thread/delete", w => w.WriteString("threadId", sessionId), TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
        {
            LogUnsubscribeFailed(_logger, sessionId, e.Message);
        }
    }

    /// <summary>Lets codex unload the thread (if its process still runs) and removes its scratch folder.</summary>
    private async Task UnloadAsync(CodexSession session)
    {
        if (_server is { IsAlive: true } server && session.Generation == server.Generation)
        {
            try
            {
                await server.Rpc.RequestAsync("thread/unsubscribe", w => w.WriteString("threadId", session.ThreadId), TimeSpan.FromSeconds(5), CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
            {
                LogUnsubscribeFailed(_logger, session.ThreadId, e.Message);
            }
        }
        DeleteDir(session.ScratchDir);
    }

    private async Task<string> DetectModeAsync(string path, CancellationToken cancellationToken)
    {
        if (_mode is { } known)
        {
            return known;
        }
        await _startLock.WaitAsync(cancellationToken);
        try
        {
            if (_mode is { } again)
            {
                return again;
            }
            if (_options.ForceMode is "app-server" or "exec")
            {
                _mode = _options.ForceMode;
                _probe.SetCodexMode(_options.ForceMode);
                return _options.ForceMode;
            }
            // `codex app-server` on a CLI without it could start something else (the TUI takes a
            // prompt argument), so ask the help text which subcommands exist.
            var mode = "app-server";
            using (var help = _children.Start(path, ["--help"], null, _options.Environment, redirectStdin: false))
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(20));
                var stderr = help.StandardError.ReadToEndAsync(timeout.Token);
                try
                {
                    var text = await help.StandardOutput.ReadToEndAsync(timeout.Token);
                    await help.WaitForExitAsync(timeout.Token);
                    if (help.ExitCode == 0 && !text.Contains("app-server", StringComparison.Ordinal))
                    {
                        mode = "exec";
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // No answer in time: try app-server, which reports its own failure if any.
                }
                finally
                {
                    _children.End(help);
                    _ = stderr.ContinueWith(static _ => { }, TaskScheduler.Default);
                }
            }
            _mode = mode;
            _probe.SetCodexMode(mode);
            LogMode(_logger, mode);
            return mode;
        }
        finally
        {
            _startLock.Release();
        }
    }

    private async Task<AppServer> GetServerAsync(string path, CancellationToken cancellationToken)
    {
        if (_server is { IsAlive: true, Retired: false } running)
        {
            return running;
        }
        await _startLock.WaitAsync(cancellationToken);
        try
        {
            if (_server is { IsAlive: true, Retired: false } again)
            {
                return again;
            }
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_quickDeaths > 0)
            {
                // A CLI that keeps dying must not be restarted in a tight loop.
                var delay = TimeSpan.FromMilliseconds(Math.Min(250 * Math.Pow(2, _quickDeaths - 1), 10_000));
                await Task.Delay(delay, cancellationToken);
            }
            if (_generation == 0)
            {
                RemoveStaleScratchDirs();
            }
            ScratchDirectory.Create(_settings.DataDir);
            var process = _children.Start(path, ["app-server"], ScratchRoot, _options.Environment);
            var server = new AppServer(this, process, Interlocked.Increment(ref _generation));
            try
            {
                await server.Rpc.RequestAsync("initialize", w =>
                {
                    w.WritePropertyName("clientInfo");
                    w.WriteStartObject();
                    w.WriteString("name", "codex-api-server");
                    w.WriteString("version", AppInfo.Version);
                    w.WriteEndObject();
                    w.WritePropertyName("capabilities");
                    w.WriteStartObject();
                    w.WriteBoolean("experimentalApi", true);
                    w.WriteEndObject();
                }, _options.RequestTimeout, cancellationToken);
                await server.Rpc.NotifyAsync("initialized", cancellationToken);
            }
            catch (Exception e) when (e is IOException or TimeoutException or JsonRpcException)
            {
                _quickDeaths++;
                _children.End(process);
                // What codex printed on its way out is what the operator needs to see.
                await Task.WhenAny(server.StderrDrained, Task.Delay(500, CancellationToken.None));
                var stderr = server.StderrTail;
                throw new IOException($"codex app-server did not start ({e.Message}){(stderr.Length > 0 ? "; stderr: " + stderr : "")}", e);
            }
            catch
            {
                _quickDeaths++;
                _children.End(process);
                throw;
            }
            _server = server;
            _budget?.Started("codex");
            LogStarted(_logger, server.Pid, server.Generation);
            _ = LoadModelsAsync(server);
            return server;
        }
        finally
        {
            _startLock.Release();
        }
    }

    private async Task LoadModelsAsync(AppServer server)
    {
        var ids = new List<string>();
        string? cursor = null;
        try
        {
            for (var page = 0; page < 10; page++)
            {
                var result = await server.Rpc.RequestAsync("model/list", w =>
                {
                    if (cursor is not null)
                    {
                        w.WriteString("cursor", cursor);
                    }
                }, _options.RequestTimeout, CancellationToken.None);
                if (CodexProtocol.Prop(result, "data") is { ValueKind: JsonValueKind.Array } data)
                {
                    foreach (var model in data.EnumerateArray())
                    {
                        if (CodexProtocol.Str(model, "id") is { } id)
                        {
                            ids.Add(id);
                        }
                    }
                }
                cursor = CodexProtocol.Str(result, "nextCursor");
                if (cursor is null)
                {
                    break;
                }
            }
            _catalog.SetReportedCodexModels(ids);
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
        {
            LogModelListFailed(_logger, e.Message);
        }
    }

    private void OnServerExited(AppServer server)
    {
        foreach (var (_, channel) in server.Subscriptions)
        {
            channel.Writer.TryComplete(new IOException("the codex app-server exited"));
        }
        if (!_disposed && !_children.ShuttingDown && !server.Retired)
        {
            var uptime = Stopwatch.GetElapsedTime(server.StartedAt);
            _quickDeaths = uptime < TimeSpan.FromSeconds(30) ? _quickDeaths + 1 : 0;
            LogExited(_logger, server.Pid, server.ExitDescription, server.StderrTail);
        }
        _children.End(server.Process);
        Interlocked.Increment(ref _exitsHandled);
    }

    /// <summary>
    /// An app-server that leaves a request unanswered is hung, not busy (requests are answered at once,
    /// turns run in the background): ending it frees its turns, and the next request starts a new one.
    /// </summary>
    private void EndHungServer()
    {
        if (_server is { IsAlive: true } hung)
        {
            LogHung(_logger, hung.Pid);
            // Forgotten now, not once its pipes close: a request arriving in between must start a new one.
            _server = null;
            _children.End(hung.Process);
        }
    }

    private static ProviderError NotInstalled(string detail) => new(ProviderErrorKind.NotInstalled,
        $"the Codex CLI is not available ({detail})", CliProbe.InstallHint("codex"));

    private static ProviderError Crashed(AppServer server) => new(ProviderErrorKind.Crashed,
        $"the codex app-server exited during the turn ({server.ExitDescription}); the next request starts it again");

    public async ValueTask DisposeAsync()
    {
        // The container may dispose us twice: as CodexProvider and as ITurnProvider.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }
        _disposed = true;
        _settings.Changed -= OnConfigChanged;
        if (_server is { } server)
        {
            _children.End(server.Process);
            await server.Rpc.DisposeAsync();
            server.Process.Dispose();
        }
        foreach (var session in _sessions.Values.Concat(_spares.Values))
        {
            DeleteDir(session.ScratchDir);
        }
        _sessions.Clear();
        _spares.Clear();
    }

    private readonly record struct SpareKey(string Model, string Instructions, string? AgentDir);

    private sealed class CodexSession(string threadId, string scratchDir)
    {
        public string ThreadId { get; } = threadId;
        public string ScratchDir { get; } = scratchDir;
        public SemaphoreSlim Lock { get; } = new(1, 1);
        public int Generation { get; set; }
        public long LastUsed { get; set; } = Stopwatch.GetTimestamp();
        public volatile bool Ended;
    }

    /// <summary>One running app-server process and the turns listening to it.</summary>
    private sealed class AppServer
    {
        private readonly CodexProvider _owner;
        private readonly StderrTail _stderr = new();

        public AppServer(CodexProvider owner, Process process, int generation)
        {
            _owner = owner;
            Process = process;
            Pid = process.Id;
            Generation = generation;
            StartedAt = Stopwatch.GetTimestamp();
            Rpc = new JsonRpcLineClient(process.StandardInput.BaseStream, process.StandardOutput.BaseStream, owner._logger,
                OnNotification, OnServerRequestAsync, owner._options.MaxLineBytes);
            StderrDrained = Task.Run(() => _stderr.DrainAsync(process.StandardError.BaseStream, line => LogStderr(owner._logger, Pid, line)));
            Rpc.Completion.ContinueWith(_ => owner.OnServerExited(this), TaskScheduler.Default);
        }

        public Process Process { get; }
        public Task StderrDrained { get; }
        public int Pid { get; }
        public int Generation { get; }
        public long StartedAt { get; }
        public JsonRpcLineClient Rpc { get; }
        public ConcurrentDictionary<string, Channel<JsonElement>> Subscriptions { get; } = new(StringComparer.Ordinal);

        public bool IsAlive => !Rpc.IsClosed;

        /// <summary>Started from a codexPath that is no longer configured: no new turn goes to it.</summary>
        public volatile bool Retired;

        public string StderrTail => _stderr.ToString();

        public string ExitDescription
        {
            get
            {
                try
                {
                    return Process.HasExited ? $"exit code {Process.ExitCode}" : "output closed";
                }
                catch (InvalidOperationException)
                {
                    return "gone";
                }
            }
        }

        private void OnNotification(JsonElement message)
        {
            var threadId = CodexProtocol.Str(CodexProtocol.Prop(message, "params"), "threadId");
            if (threadId is not null && Subscriptions.TryGetValue(threadId, out var channel))
            {
                channel.Writer.TryWrite(message);
            }
        }

        // Every request from codex gets an answer, or the turn that caused it would wait forever.
        // We never approve anything: the threads are read-only chat.
        private async ValueTask OnServerRequestAsync(JsonElement id, JsonElement message)
        {
            var method = CodexProtocol.Str(message, "method") ?? "";
            LogServerRequest(_owner._logger, method);
            switch (method)
            {
                case "item/commandExecution/requestApproval" or "item/fileChange/requestApproval":
                    await Rpc.RespondAsync(id, w => w.WriteString("decision", "decline"));
                    break;
                case "applyPatchApproval" or "execCommandApproval":
                    await Rpc.RespondAsync(id, w =>
                    {
                        w.WritePropertyName("decision");
                        w.WriteStartObject();
                        w.WritePropertyName("denied");
                        w.WriteStartObject();
                        w.WriteString("rejection", "codex-api-server does not allow commands or file changes");
                        w.WriteEndObject();
                        w.WriteEndObject();
                    });
                    break;
                case "item/permissions/requestApproval":
                    await Rpc.RespondAsync(id, w =>
                    {
                        w.WritePropertyName("permissions");
                        w.WriteStartObject();
                        w.WriteEndObject();
                        w.WriteString("scope", "turn");
                    });
                    break;
                case "item/tool/requestUserInput":
                    await Rpc.RespondAsync(id, w =>
                    {
                        w.WritePropertyName("answers");
                        w.WriteStartObject();
                        w.WriteEndObject();
                    });
                    break;
                case "mcpServer/elicitation/request":
                    await Rpc.RespondAsync(id, w => w.WriteString("action", "decline"));
                    break;
                case "item/tool/call":
                    await Rpc.RespondAsync(id, w =>
                    {
                        w.WritePropertyName("contentItems");
                        w.WriteStartArray();
                        w.WriteEndArray();
                        w.WriteBoolean("success", false);
                    });
                    break;
                default:
                    await Rpc.RespondErrorAsync(id, -32601, $"codex-api-server does not handle {method}");
                    break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Codex runs in {Mode} mode")]
    private static partial void LogMode(ILogger logger, string mode);

    [LoggerMessage(Level = LogLevel.Information, Message = "codex app-server {Pid} ended: codexPath changed")]
    private static partial void LogRetired(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started codex app-server as PID {Pid} (start #{Generation})")]
    private static partial void LogStarted(ILogger logger, int pid, int generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server PID {Pid} ended ({Exit}); last stderr: {Stderr}")]
    private static partial void LogExited(ILogger logger, int pid, string exit, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server PID {Pid} left a request unanswered; ending it")]
    private static partial void LogHung(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Debug, Message = "codex[{Pid}] stderr: {Line}")]
    private static partial void LogStderr(ILogger logger, int pid, string line);

    [LoggerMessage(Level = LogLevel.Debug, Message = "codex asked {Method}; answered with a refusal")]
    private static partial void LogServerRequest(ILogger logger, string method);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Codex thread {ThreadId} reported an error (will retry: {WillRetry}): {Message}")]
    private static partial void LogTurnError(ILogger logger, string threadId, string message, bool willRetry);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A Codex turn failed: {Type}: {Message}")]
    private static partial void LogTurnFailed(ILogger logger, string type, string message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Interrupting Codex thread {ThreadId} did not finish cleanly: {Reason}")]
    private static partial void LogInterruptFailed(ILogger logger, string threadId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Codex thread {ThreadId} could not be resumed: {Reason}")]
    private static partial void LogResumeFailed(ILogger logger, string threadId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribing Codex thread {ThreadId} failed: {Reason}")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string threadId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unloading idle Codex thread {ThreadId}")]
    private static partial void LogEvicted(ILogger logger, string threadId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex refused the chat-thread config overrides, so chat turns get 503: {Reason}")]
    private static partial void LogChatConfigRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Starting a spare Codex thread failed: {Reason}")]
    private static partial void LogSpareFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "model/list failed: {Reason}")]
    private static partial void LogModelListFailed(ILogger logger, string reason);
}
