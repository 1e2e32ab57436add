using System.ComponentModel;
using System.Runtime.CompilerServices;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Claude;

/// <summary>Knobs tests turn; real users get the defaults and their normal environment.</summary>
public sealed class ClaudeProviderOptions
{
    /// <summary>Extra environment for every claude child (tests point it at a mock upstream).</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Started, idle processes kept per (model, instructions, effort, schema) that was used.</summary>
    public int WarmSpares { get; init; } = 1;

    /// <summary>Idle live sessions and spares are ended after this long without a turn.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Claude Code through persistent `claude -p` stream-json processes: one process per conversation,
/// kept between turns, plus warm spares so a new conversation does not wait for a start.
/// Our session handle is the Claude session id: sessions persist on disk (no
/// --no-session-persistence), so one whose process was reaped, cancelled or restarted continues
/// with `--resume`.
/// </summary>
public sealed partial class ClaudeProvider : ITurnProvider, ICliProcessOwner, IAsyncDisposable
{
    /// <summary>
    /// A chat request without instructions gets no system prompt of ours, as on the OpenAI API; an empty
    /// --system-prompt still replaces Claude Code's agent prompt (what is left is its one-line SDK identity).
    /// </summary>
    internal const string DefaultChatPrompt = "";

    /// <summary>
    /// Chat mode: no tools, no settings files, and none of the agent extras claude adds on its own: the
    /// made-up token budget reminder ("15000000 tokens left", 114 B a request) and the built-in plugins
    /// that read project memory files and help write plugins (the first one's prompt hook runs before
    /// every request). Values as --name=value so no prompt can be read as a flag.
    /// </summary>
    internal static readonly string[] ChatModeFlags =
    [
        "--tools", "", "--setting-sources", "",
        """--settings={"totalTokensReminder":"off","enabledPlugins":{"cc-plugin-agents-md@builtin":false,"cc-plugin-plugin-authoring@builtin":false}}""",
    ];

    private static readonly string LoginHint = CliProbe.LoginHint("claude");
    private const int MaxArgvPromptChars = 16 * 1024;

    private readonly ServerSettings _settings;
    private readonly CliProbe _probe;
    private readonly ChildProcesses _children;
    private readonly ILogger<ClaudeProvider> _logger;
    private readonly ClaudeProviderOptions _options;
    private readonly MemoryBudget? _budget;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ClaudeProcess> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<ClaudeSessionKey, List<ClaudeProcess>> _spares = [];
    private readonly Dictionary<ClaudeSessionKey, DateTimeOffset> _keysUsed = [];
    private readonly HashSet<string> _endedSessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object> _scratchOwners = new(StringComparer.Ordinal);
    private readonly Queue<string> _endedOrder = new();
    private readonly List<int> _startedPids = [];
    private readonly Timer _reaper;
    private bool _disposed;

    public ClaudeProvider(ServerSettings settings, CliProbe probe, ChildProcesses children, ILogger<ClaudeProvider> logger, ClaudeProviderOptions? options = null, MemoryBudget? budget = null)
    {
        _settings = settings;
        _probe = probe;
        _children = children;
        _logger = logger;
        _options = options ?? new ClaudeProviderOptions();
        _budget = budget;
        budget?.AddOwner(this);
        settings.Changed += OnConfigChanged;
        var period = TimeSpan.FromTicks(Math.Clamp(_options.IdleTimeout.Ticks / 2, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _reaper = new Timer(_ => Reap(), null, period, period);
    }

    public ProviderKind Kind => ProviderKind.Claude;

    /// <summary>Every claude PID this provider started, in order (tests check they are gone).</summary>
    public IReadOnlyList<int> StartedPids
    {
        get
        {
            lock (_lock)
            {
                return _startedPids.ToArray();
            }
        }
    }

    /// <summary>The PID serving a live session, or null.</summary>
    public int? PidOf(string sessionId)
    {
        lock (_lock)
        {
            return _sessions.TryGetValue(sessionId, out var process) ? process.Pid : null;
        }
    }

    /// <summary>Started spares waiting for a conversation.</summary>
    public int SpareCount
    {
        get
        {
            lock (_lock)
            {
                return _spares.Values.Sum(l => l.Count(p => !p.HasExited));
            }
        }
    }

    private bool AgentMode => _settings.Config.Mode == "agent";

    public async IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (process, error) = Acquire(request);
        if (error is not null)
        {
            yield return new TurnFailed(error);
            yield break;
        }
        var finished = false;
        var refilled = false;
        var sawModelOutput = false;
        var textSent = false;
        // With a schema the answer is the StructuredOutput tool's input, reported in the result;
        // text the model writes around the tool call would corrupt the JSON, so it is held back.
        var structured = request.OutputSchema is not null;
        var heldText = structured ? new System.Text.StringBuilder() : null;
        try
        {
            var writeError = await WriteAsync(process!, ClaudeProtocol.UserLine(request.Messages), cancellationToken);
            if (writeError is not null)
            {
                yield return Fail(process!, writeError);
                finished = true;
                yield break;
            }
            while (true)
            {
                var line = await NextLineAsync(process!, cancellationToken);
                if (line is null)
                {
                    finished = true;
                    yield return Fail(process!, process!.Resumed && process.TurnsDone == 0 && !sawModelOutput
                        ? new ProviderError(ProviderErrorKind.SessionNotFound, $"Claude session {process.SessionId} cannot be resumed")
                        : new ProviderError(ProviderErrorKind.Crashed, "claude exited in the middle of the turn; the server log has its last output"));
                    yield break;
                }
                if (!refilled && line.Kind is ClaudeLineKind.TextDelta or ClaudeLineKind.ThinkingDelta)
                {
                    // The first output is out: a replacement spare's start (~0.5 s of CPU) no
                    // longer competes with this turn's time to first token.
                    refilled = true;
                    RefillSpares(process!.Key);
                }
                switch (line.Kind)
                {
                    case ClaudeLineKind.TextDelta when line.Text is { Length: > 0 } && heldText is not null:
                        sawModelOutput = true;
                        heldText.Append(line.Text);
                        break;
                    case ClaudeLineKind.TextDelta when line.Text is { Length: > 0 }:
                        sawModelOutput = textSent = true;
                        yield return new TextDelta(line.Text);
                        break;
                    case ClaudeLineKind.ThinkingDelta when line.Text is { Length: > 0 }:
                        sawModelOutput = true;
                        yield return new ReasoningDelta(line.Text);
                        break;
                    case ClaudeLineKind.ApiRetry when line.ErrorStatus == 401 || line.Error == "authentication_failed":
                        // Retrying a bad login only delays the answer the operator needs.
                        finished = true;
                        yield return Fail(process!, new ProviderError(ProviderErrorKind.NotAuthenticated, "Claude Code is not logged in (the model API answered 401)", LoginHint));
                        yield break;
                    case ClaudeLineKind.ApiRetry:
                        LogRetry(_logger, process!.Pid, line.ErrorStatus ?? 0, line.Error ?? "");
                        yield return CliActivity.Instance;
                        break;
                    case ClaudeLineKind.Result when line.IsError:
                        finished = true;
                        yield return Fail(process!, ResultError(process!, line, sawModelOutput));
                        yield break;
                    case ClaudeLineKind.Result:
                        if (line.StructuredOutput is not null && !textSent)
                        {
                            yield return new TextDelta(line.StructuredOutput);
                        }
                        else if (heldText is { Length: > 0 })
                        {
                            yield return new TextDelta(heldText.ToString());
                        }
                        if (line.Usage is not null)
                        {
                            yield return new UsageReport(line.Usage);
                        }
                        finished = true;
                        Release(process!);
                        yield return new TurnCompleted(line.StopReason == "max_tokens" ? "length" : "stop", process!.SessionId);
                        yield break;
                    default:
                        yield return CliActivity.Instance;
                        break;
                }
            }
        }
        finally
        {
            if (!finished)
            {
                // Cancelled, or the caller stopped reading: end the process so the upstream request stops too.
                LogCancelled(_logger, process!.Pid);
                Forget(process);
            }
            if (!refilled)
            {
                RefillSpares(process!.Key);
            }
        }
    }

    private void RefillSpares(ClaudeSessionKey key)
    {
        if (_probe.ClaudePath is { } path)
        {
            EnsureSpares(path, key);
        }
    }

    public ValueTask EndSessionAsync(string sessionId)
    {
        ClaudeProcess? process;
        lock (_lock)
        {
            if (_endedSessions.Add(sessionId))
            {
                _endedOrder.Enqueue(sessionId);
                if (_endedOrder.Count > 10_000)
                {
                    _endedSessions.Remove(_endedOrder.Dequeue());
                }
            }
            _sessions.Remove(sessionId, out process);
        }
        if (process is not null)
        {
            End(process);
        }
        if (Guid.TryParse(sessionId, out _))
        {
            DeleteTranscript(sessionId);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Removes the CLI's stored transcript of an ended session (it keeps one per session for --resume),
    /// so a forgotten conversation does not stay on disk. Best effort.
    /// </summary>
    private void DeleteTranscript(string sessionId)
    {
        var home = EnvironmentValue("HOME") ?? EnvironmentValue("USERPROFILE");
        var configDir = EnvironmentValue("CLAUDE_CONFIG_DIR") ?? (home is null ? null : Path.Combine(home, ".claude"));
        var projects = configDir is null ? null : Path.Combine(configDir, "projects");
        if (projects is null || !Directory.Exists(projects))
        {
            return;
        }
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(projects))
            {
                var file = Path.Combine(dir, sessionId + ".jsonl");
                if (File.Exists(file))
                {
                    File.Delete(file);
                    if (!Directory.EnumerateFileSystemEntries(dir).Any())
                    {
                        Directory.Delete(dir);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogTranscriptNotRemoved(_logger, sessionId, e.Message);
        }
    }

    private string? EnvironmentValue(string name) =>
        _options.Environment is { } env && env.TryGetValue(name, out var value)
            ? (string.IsNullOrEmpty(value) ? null : value)
            : Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>
    /// A new claudePath: the spares and idle sessions of the old claude end now (the sessions resume
    /// with the new one when used again); a busy one moves over at its next turn.
    /// </summary>
    private void OnConfigChanged(ServerConfig before, ServerConfig after)
    {
        if (before.ClaudePath == after.ClaudePath)
        {
            return;
        }
        List<ClaudeProcess> old;
        lock (_lock)
        {
            old = [.. _spares.Values.SelectMany(l => l)];
            _spares.Clear();
            foreach (var (id, process) in _sessions.ToArray())
            {
                if (process.TryBeginTurn())
                {
                    _sessions.Remove(id);
                    old.Add(process);
                }
            }
        }
        foreach (var process in old)
        {
            LogPathChanged(_logger, process.Pid);
            End(process);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _settings.Changed -= OnConfigChanged;
        List<ClaudeProcess> all;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            all = [.. _sessions.Values, .. _spares.Values.SelectMany(l => l)];
            _sessions.Clear();
            _spares.Clear();
        }
        await _reaper.DisposeAsync();
        foreach (var process in all)
        {
            End(process);
        }
        await Task.WhenAny(Task.WhenAll(all.Select(p => p.Completion)), Task.Delay(TimeSpan.FromSeconds(3)));
    }

    private (ClaudeProcess? Process, ProviderError? Error) Acquire(TurnRequest request)
    {
        if (!request.Messages.Any(m => m.Role is not ("system" or "developer") && m.Parts.Count > 0))
        {
            return (null, new ProviderError(ProviderErrorKind.InvalidRequest, "the conversation has no user message"));
        }
        if (!ModelName.IsValid(request.Model.CliModel))
        {
            return (null, new ProviderError(ProviderErrorKind.InvalidRequest, "invalid model name"));
        }
        var path = _probe.ClaudePath;
        if (path is null)
        {
            return (null, NotInstalled());
        }
        var key = KeyOf(request);
        try
        {
            ClaudeProcess? process = null;
            ClaudeProcess? stale = null;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _keysUsed[key] = DateTimeOffset.UtcNow;
                if (request.SessionId is { } id)
                {
                    if (_sessions.TryGetValue(id, out var live))
                    {
                        if (!live.TryBeginTurn())
                        {
                            return (null, new ProviderError(ProviderErrorKind.Busy, "a turn is already running in this session", RetryAfter: TimeSpan.FromSeconds(1)));
                        }
                        // The system prompt is left out: the CLI records it on a session's first request and
                        // keeps it on resume, so a restart with other instructions would change nothing.
                        if (live.Key with { SystemPrompt = null } == key with { SystemPrompt = null } && live.CliPath == path && !live.HasExited)
                        {
                            process = live;
                        }
                        else
                        {
                            // Another model, prompt or claude, or it died: continue the same session in a new process.
                            _sessions.Remove(id);
                            stale = live;
                        }
                    }
                    else if (_endedSessions.Contains(id) || !Guid.TryParse(id, out _))
                    {
                        return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"session {id} is not known"));
                    }
                }
                else if (TakeSpare(key) is { } spare)
                {
                    // Listed as a session at once: the memory budget must see it all the time.
                    process = spare;
                    _sessions[spare.SessionId] = spare;
                }
            }
            if (stale is not null)
            {
                End(stale);
            }
            if (process is null)
            {
                var resume = request.SessionId;
                process = Start(path, key, resume ?? Guid.NewGuid().ToString(), resume is not null);
                process.TryBeginTurn();
                lock (_lock)
                {
                    _sessions[process.SessionId] = process;
                }
                // The router reserved room for it; now it is listed and counts for itself.
                _budget?.Started("claude");
            }
            // The pool is refilled once this turn has its first output (RunAsync), not now.
            return (process, null);
        }
        catch (ObjectDisposedException)
        {
            return (null, new ProviderError(ProviderErrorKind.Crashed, "the server is shutting down"));
        }
        catch (Exception e) when (e is Win32Exception or FileNotFoundException)
        {
            LogStartFailed(_logger, path, e.Message);
            return (null, NotInstalled());
        }
        catch (IOException e)
        {
            LogStartFailed(_logger, path, e.Message);
            return (null, new ProviderError(ProviderErrorKind.Crashed, $"claude could not be started: {e.Message}"));
        }
    }

    private ClaudeSessionKey KeyOf(TurnRequest request) => new(
        request.Model.CliModel,
        ClaudeProtocol.SystemPrompt(request.Instructions, request.Messages) ?? (AgentMode ? null : DefaultChatPrompt),
        MapEffort(request.ReasoningEffort),
        request.OutputSchema is { } schema ? schema.GetRawText() : null);

    public IReadOnlyList<CliProcessEntry> CliProcesses()
    {
        lock (_lock)
        {
            var list = new List<CliProcessEntry>(_sessions.Count + _spares.Count);
            foreach (var p in _sessions.Values.Where(p => !p.HasExited))
            {
                list.Add(new CliProcessEntry(p.Pid, "claude", "session", !p.IsBusy, p.LastUsed, p.StartedAt));
            }
            foreach (var p in _spares.Values.SelectMany(l => l).Where(p => !p.HasExited))
            {
                list.Add(new CliProcessEntry(p.Pid, "claude", "spare", true, p.LastUsed, p.StartedAt));
            }
            return list;
        }
    }

    public bool EndIdle(int pid)
    {
        ClaudeProcess? victim = null;
        lock (_lock)
        {
            foreach (var list in _spares.Values)
            {
                if (list.Find(p => p.Pid == pid) is { } spare)
                {
                    list.Remove(spare);
                    victim = spare;
                    break;
                }
            }
            if (victim is null && _sessions.Values.FirstOrDefault(p => p.Pid == pid) is { } idle && idle.TryBeginTurn())
            {
                // Claimed like a turn would, so none can start on it now; the session stays resumable.
                _sessions.Remove(idle.SessionId);
                victim = idle;
            }
        }
        if (victim is null)
        {
            return false;
        }
        End(victim);
        return true;
    }

    public bool NeedsNewProcess(TurnRequest request)
    {
        lock (_lock)
        {
            if (request.SessionId is { } id)
            {
                return !(_sessions.TryGetValue(id, out var live) && !live.HasExited);
            }
            return !(_spares.TryGetValue(KeyOf(request), out var list) && list.Exists(p => !p.HasExited));
        }
    }

    private static ProviderError NotInstalled() =>
        new(ProviderErrorKind.NotInstalled, "Claude Code (claude) is not installed on the server", CliProbe.InstallHint("claude"));

    /// <summary>Caller holds the lock.</summary>
    private ClaudeProcess? TakeSpare(ClaudeSessionKey key)
    {
        if (!_spares.TryGetValue(key, out var list))
        {
            return null;
        }
        while (list.Count > 0)
        {
            var spare = list[0];
            list.RemoveAt(0);
            if (!spare.HasExited)
            {
                spare.TryBeginTurn();
                return spare;
            }
            End(spare);
        }
        return null;
    }

    private void EnsureSpares(string path, ClaudeSessionKey key)
    {
        if (_options.WarmSpares <= 0)
        {
            return;
        }
        _ = Task.Run(() =>
        {
            try
            {
                while (SparesMissing(key))
                {
                    // A spare only uses memory that is free: it never ends a conversation's process.
                    using var room = _budget?.TryReserve("claude");
                    if (_budget is not null && room is null)
                    {
                        return;
                    }
                    lock (_lock)
                    {
                        if (_disposed || !SparesMissing(key))
                        {
                            return;
                        }
                        // Started under the lock so Dispose cannot miss it; Process.Start does not wait for claude to load.
                        _spares[key].Add(Start(path, key, Guid.NewGuid().ToString(), resume: false));
                    }
                }
            }
            catch (Exception e) when (e is Win32Exception or IOException or FileNotFoundException)
            {
                LogStartFailed(_logger, path, e.Message);
            }
        });
    }

    private bool SparesMissing(ClaudeSessionKey key)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return false;
            }
            var list = _spares.TryGetValue(key, out var l) ? l : _spares[key] = [];
            list.RemoveAll(p => p.HasExited);
            return list.Count < _options.WarmSpares;
        }
    }

    private ClaudeProcess Start(string path, ClaudeSessionKey key, string sessionId, bool resume)
    {
        // Values as --name=value: a prompt that starts with "-" must not be read as another flag.
        var args = new List<string>
        {
            "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
            "--include-partial-messages", "--model=" + key.Model,
        };
        if (key.SystemPrompt is not null)
        {
            args.Add(key.SystemPrompt.Length > MaxArgvPromptChars
                ? "--system-prompt-file=" + PromptFile(key.SystemPrompt)
                : "--system-prompt=" + key.SystemPrompt);
        }
        if (key.Effort is not null)
        {
            args.Add("--effort=" + key.Effort);
        }
        // A schema over the argv limit goes in the initialize request on stdin instead.
        var schemaLine = key.Schema is { Length: > MaxArgvPromptChars } big ? ClaudeProtocol.InitializeLine(big) : null;
        if (key.Schema is not null && schemaLine is null)
        {
            args.Add("--json-schema=" + key.Schema);
        }
        string? scratch = null;
        object? owner = null;
        string cwd;
        if (AgentMode)
        {
            cwd = _settings.Config.AgentWorkingDirectory!;
            args.AddRange(["--permission-mode", "acceptEdits"]);
        }
        else
        {
            // Plain chat should not carry an agent's prompt and tools upstream.
            args.AddRange(ChatModeFlags);
            lock (_lock)
            {
                // A resumed session runs in the same folder (claude finds its transcript by it), so an
                // earlier process of this session that is ending now must not remove it under us.
                _scratchOwners[sessionId] = owner = new object();
                scratch = cwd = ScratchDirectory.Create(_settings.DataDir, $"claude-{sessionId}");
            }
        }
        args.AddRange(resume ? ["--resume", sessionId] : ["--session-id", sessionId]);
        var child = _children.Start(path, args, cwd, _options.Environment);
        var process = new ClaudeProcess(child, _children, _logger, key, sessionId, scratch, owner, resume) { CliPath = path };
        if (schemaLine is not null)
        {
            process.WriteFirst(schemaLine);
        }
        lock (_lock)
        {
            _startedPids.Add(process.Pid);
            if (_startedPids.Count > 1000)
            {
                _startedPids.RemoveAt(0);
            }
        }
        LogStarted(_logger, process.Pid, key.Model, resume);
        return process;
    }

    /// <summary>
    /// A long prompt goes through a file (a long schema through stdin, see Start): one argv string is capped (128 KiB on Linux, less on
    /// Windows). Files are named by content, so pooled processes with the same prompt share one.
    /// </summary>
    private string PromptFile(string prompt)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(prompt);
        var dir = ScratchDirectory.Create(_settings.DataDir, "prompts");
        var path = Path.Combine(dir, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)) + ".txt");
        if (!File.Exists(path))
        {
            var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        return path;
    }

    private static async Task<ProviderError?> WriteAsync(ClaudeProcess process, byte[] line, CancellationToken cancellationToken)
    {
        try
        {
            await process.WriteAsync(line, cancellationToken);
            return null;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            return new ProviderError(ProviderErrorKind.Crashed, "claude is not accepting input; the server log has its last output");
        }
    }

    private static async ValueTask<ClaudeLine?> NextLineAsync(ClaudeProcess process, CancellationToken cancellationToken)
    {
        while (await process.Lines.WaitToReadAsync(cancellationToken))
        {
            if (process.Lines.TryRead(out var line))
            {
                return line;
            }
        }
        return null;
    }

    private static ProviderError ResultError(ClaudeProcess process, ClaudeLine line, bool sawModelOutput)
    {
        var message = string.IsNullOrWhiteSpace(line.Text) ? $"Claude Code failed ({line.Subtype})" : ErrorText.WithoutAddresses(line.Text!);
        if (process.Resumed && process.TurnsDone == 0 && !sawModelOutput && line.NumTurns == 0 && line.Subtype == "error_during_execution")
        {
            return new ProviderError(ProviderErrorKind.SessionNotFound, $"Claude session {process.SessionId} cannot be resumed");
        }
        // With no credentials at all the CLI does not call upstream; it ends the turn with
        // "Not logged in · Please run /login" and no status.
        if (line.ErrorStatus is null && (message.Contains("/login", StringComparison.OrdinalIgnoreCase)
            || message.Contains("not logged in", StringComparison.OrdinalIgnoreCase)
            || message.Contains("Invalid API key", StringComparison.OrdinalIgnoreCase)))
        {
            return new ProviderError(ProviderErrorKind.NotAuthenticated, message, LoginHint);
        }
        return line.ErrorStatus switch
        {
            401 => new ProviderError(ProviderErrorKind.NotAuthenticated, message, LoginHint),
            // Anthropic's "prompt is too long: N tokens > M maximum", which Claude Code rewords as "Prompt is too long · ...".
            400 or 413 when message.Contains("prompt is too long", StringComparison.OrdinalIgnoreCase) => new ProviderError(ProviderErrorKind.ContextLengthExceeded, message),
            400 or 413 => new ProviderError(ProviderErrorKind.InvalidRequest, message),
            _ => new ProviderError(ProviderErrorKind.Upstream, message),
        };
    }

    private TurnFailed Fail(ClaudeProcess process, ProviderError error)
    {
        // Its stderr goes to the operator's log only: it can hold paths, addresses or tokens a key holder should not see.
        LogTurnFailed(_logger, process.Pid, error.Kind, error.Message, process.StderrTail);
        Forget(process);
        return new TurnFailed(error);
    }

    /// <summary>Ends the process, and removes its scratch folder unless a newer process of the session has it.</summary>
    private void End(ClaudeProcess process)
    {
        process.End();
        lock (_lock)
        {
            if (process.ScratchOwner is { } owner && _scratchOwners.TryGetValue(process.SessionId, out var current) && current == owner)
            {
                _scratchOwners.Remove(process.SessionId);
                process.RemoveScratchDir();
            }
        }
    }

    /// <summary>Ends the process; its session stays resumable from disk unless ended explicitly.</summary>
    private void Forget(ClaudeProcess process)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(process.SessionId, out var current) && current == process)
            {
                _sessions.Remove(process.SessionId);
            }
        }
        End(process);
    }

    private static void Release(ClaudeProcess process)
    {
        process.TurnsDone++;
        process.LastUsed = DateTimeOffset.UtcNow;
        process.EndTurn();
    }

    private void Reap()
    {
        var now = DateTimeOffset.UtcNow;
        var ended = new List<ClaudeProcess>();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            foreach (var (id, process) in _sessions.ToArray())
            {
                if (process.HasExited || (!process.IsBusy && now - process.LastUsed > _options.IdleTimeout))
                {
                    _sessions.Remove(id);
                    ended.Add(process);
                }
            }
            foreach (var (key, used) in _keysUsed.ToArray())
            {
                if (now - used > _options.IdleTimeout)
                {
                    _keysUsed.Remove(key);
                }
            }
            // Spares go by their key's last use; a refill that lands after its key was reaped has no
            // last use at all, and is ended here rather than left running until shutdown.
            foreach (var (key, list) in _spares.ToArray())
            {
                if (!_keysUsed.ContainsKey(key))
                {
                    _spares.Remove(key);
                    ended.AddRange(list);
                }
            }
        }
        foreach (var process in ended)
        {
            LogReaped(_logger, process.Pid);
            End(process);
        }
    }

    private static string? MapEffort(string? effort) => effort switch
    {
        "none" or "minimal" or "low" => "low",
        "medium" or "high" or "xhigh" or "max" => effort,
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Started claude {Pid} for {Model} (resume: {Resume})")]
    private static partial void LogStarted(ILogger logger, int pid, string model, bool resume);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not start claude at {Path}: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} upstream retry: status {Status} {Error}")]
    private static partial void LogRetry(ILogger logger, int pid, int status, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} turn cancelled; process ended")]
    private static partial void LogCancelled(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "claude {Pid} turn failed ({Kind}): {Reason}; last stderr: {Stderr}")]
    private static partial void LogTurnFailed(ILogger logger, int pid, ProviderErrorKind kind, string reason, string stderr);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove the transcript of Claude session {SessionId}: {Reason}")]
    private static partial void LogTranscriptNotRemoved(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} ended: claudePath changed")]
    private static partial void LogPathChanged(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} idle; ended")]
    private static partial void LogReaped(ILogger logger, int pid);
}
