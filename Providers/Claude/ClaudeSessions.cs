using System.ComponentModel;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// The claude processes of ClaudeProvider: one per live conversation (by Claude session id), warm
/// spares per key (ClaudeSessions.Spares.cs), idle reaping, ending one for the memory budget, and
/// which start of a session owns its scratch folder.
/// </summary>
internal sealed partial class ClaudeSessions : IAsyncDisposable
{
    private readonly ServerSettings _settings;
    private readonly CliProbe _probe;
    private readonly ChildProcesses _children;
    private readonly ILogger _logger;
    private readonly ClaudeProviderOptions _options;
    private readonly MemoryBudget? _budget;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ClaudeProcess> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<ClaudeSessionKey, List<ClaudeProcess>> _spares = [];
    private readonly Dictionary<ClaudeSessionKey, DateTimeOffset> _keysUsed = [];
    private readonly Dictionary<ClaudeSessionKey, Demand> _demand = [];
    private readonly HashSet<string> _endedSessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object> _scratchOwners = new(StringComparer.Ordinal);
    private readonly Queue<string> _endedOrder = new();
    private readonly List<int> _startedPids = [];
    private readonly Timer _reaper;
    private bool _disposed;

    public ClaudeSessions(ServerSettings settings, CliProbe probe, ChildProcesses children, ILogger logger, ClaudeProviderOptions options, MemoryBudget? budget)
    {
        _settings = settings;
        _probe = probe;
        _children = children;
        _logger = logger;
        _options = options;
        _budget = budget;
        settings.Changed += OnConfigChanged;
        var period = TimeSpan.FromTicks(Math.Clamp(_options.IdleTimeout.Ticks / 2, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _reaper = new Timer(_ => Reap(), null, period, period);
    }

    /// <summary>Every claude PID started, in order (tests check they are gone).</summary>
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

    /// <summary>
    /// The process for a turn, already claimed for it: the session's live one; for a new conversation, a
    /// finished one-off conversation's process rewound (<see cref="Recycles"/>) or a spare; or one started now
    /// (with --resume for a known session whose process is gone).
    /// </summary>
    /// <param name="tools">The client tools of <paramref name="key"/> (its Tools digest), for a process started now.</param>
    /// <returns>
    /// The process, or why there is none; and whether the caller refills the key's spares once the turn has
    /// its first output (<see cref="RefillSpares"/>) rather than this doing it now.
    /// </returns>
    public async Task<(ClaudeProcess? Process, ProviderError? Error, bool RefillAtFirstOutput)> AcquireAsync(ClaudeSessionKey key, IReadOnlyList<ToolDefinition>? tools, string? sessionId)
    {
        ClaudeProcess? finished = null;
        if (sessionId is null)
        {
            lock (_lock)
            {
                // Counted before Recycles asks whether this key's new conversations are one-offs.
                CountNewConversation(key);
                if (!_disposed && Recycles(key) && _probe.ClaudePath is { } path)
                {
                    finished = TakeFinishedOneOff(key, path);
                }
            }
        }
        // 1-5 ms; claude's next turn then takes about half the time it does on a fresh spare (README, Warm spares).
        if (finished is not null && await finished.RewindAsync(RewindTimeout))
        {
            lock (_lock)
            {
                if (!_disposed)
                {
                    _keysUsed[key] = DateTimeOffset.UtcNow;
                    finished.Recycle(Guid.NewGuid().ToString());
                    _sessions[finished.SessionId] = finished;
                    LogRecycled(_logger, finished.Pid);
                    return (finished, null, false);
                }
            }
        }
        if (finished is not null)
        {
            End(finished);
        }
        return Acquire(key, tools, sessionId);
    }

    /// <summary><see cref="AcquireAsync"/> but for reusing a finished one-off conversation's process (a new conversation is counted already).</summary>
    private (ClaudeProcess? Process, ProviderError? Error, bool RefillAtFirstOutput) Acquire(ClaudeSessionKey key, IReadOnlyList<ToolDefinition>? tools, string? sessionId)
    {
        var path = _probe.ClaudePath;
        if (path is null)
        {
            return (null, NotInstalled(), false);
        }
        try
        {
            ClaudeProcess? process = null;
            ClaudeProcess? stale = null;
            var sessionGone = false;
            var refillAtFirstOutput = false;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _keysUsed[key] = DateTimeOffset.UtcNow;
                if (sessionId is { } id)
                {
                    DemandOf(key).Continued++;
                    if (_sessions.TryGetValue(id, out var live))
                    {
                        if (!live.TryBeginTurn())
                        {
                            return (null, new ProviderError(ProviderErrorKind.Busy, "a turn is already running in this session", RetryAfter: TimeSpan.FromSeconds(1)), false);
                        }
                        // The system prompt is left out: the CLI records it on a session's first request and
                        // keeps it on resume, so a restart with other instructions would change nothing.
                        // Another tool set does restart it: a process serves the tools it was started with.
                        if (live.Key with { SystemPrompt = null } == key with { SystemPrompt = null } && live.CliPath == path && !live.HasExited)
                        {
                            process = live;
                        }
                        else
                        {
                            // Another model, schema, effort, tool set or claude, or it died: continue the same session in a new process.
                            _sessions.Remove(id);
                            stale = live;
                            if (live.Recycled)
                            {
                                // Its transcript holds an earlier conversation too: not resumed; the caller replays this one.
                                MarkEnded(id);
                                sessionGone = true;
                            }
                        }
                    }
                    else if (_endedSessions.Contains(id) || !Guid.TryParse(id, out _))
                    {
                        return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"session {id} is not known"), false);
                    }
                }
                else
                {
                    if (TakeSpare(key) is { } spare)
                    {
                        // Listed as a session at once: the memory budget must see it all the time.
                        process = spare;
                        _sessions[spare.SessionId] = spare;
                        // Another spare is there for the next conversation: the replacement waits for this turn's
                        // first output, as a claude starting meanwhile takes the CPU it needs (README, Warm spares).
                        refillAtFirstOutput = _spares.TryGetValue(key, out var rest) && rest.Exists(p => !p.HasExited);
                    }
                }
            }
            if (stale is not null)
            {
                End(stale);
            }
            if (sessionGone)
            {
                return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"session {sessionId} is not resumable"), false);
            }
            if (process is null)
            {
                process = Start(path, key, tools, sessionId ?? Guid.NewGuid().ToString(), sessionId is not null);
                process.TryBeginTurn();
                lock (_lock)
                {
                    _sessions[process.SessionId] = process;
                }
                // The router reserved room for it; now it is listed and counts for itself.
                _budget?.Started("claude");
            }
            if (sessionId is null && !refillAtFirstOutput)
            {
                // The last spare taken, or none: refilled now, not once this turn has its first output. A spare's
                // start (~0.5 s of CPU) does compete with this turn, but back-to-back new conversations measured
                // faster this way (README, Warm spares); a key seen once is not refilled at all (SparesWanted).
                EnsureSpares(path, key, process.Tools);
            }
            return (process, null, refillAtFirstOutput);
        }
        catch (ObjectDisposedException)
        {
            return (null, new ProviderError(ProviderErrorKind.Crashed, "the server is shutting down"), false);
        }
        catch (Exception e) when (e is Win32Exception or FileNotFoundException)
        {
            LogStartFailed(_logger, path, e.Message);
            return (null, NotInstalled(), false);
        }
        catch (IOException e)
        {
            LogStartFailed(_logger, path, e.Message);
            return (null, new ProviderError(ProviderErrorKind.Crashed, $"claude could not be started: {e.Message}"), false);
        }
    }

    private static ProviderError NotInstalled() =>
        new(ProviderErrorKind.NotInstalled, "Claude Code (claude) is not installed on the server", CliProbe.InstallHint("claude"));

    /// <summary>
    /// The turn on <paramref name="process"/> ended well: its session keeps it for the next one.
    /// <paramref name="calledTools"/>: the turn called client tools, so the process is never rewound for another conversation.
    /// </summary>
    public static void Release(ClaudeProcess process, bool calledTools)
    {
        process.TurnsDone++;
        process.LastUsed = DateTimeOffset.UtcNow;
        process.Rewindable = !calledTools && process.TurnsDone == 1 && !process.Resumed;
        process.EndTurn();
    }

    /// <summary>Ends the process; its session stays resumable from disk unless ended explicitly.</summary>
    public void Forget(ClaudeProcess process)
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

    /// <summary>The conversation is over: its process ends and its transcript is removed; it cannot be resumed.</summary>
    public void EndSession(string sessionId)
    {
        ClaudeProcess? process;
        lock (_lock)
        {
            MarkEnded(sessionId);
            _sessions.Remove(sessionId, out process);
        }
        if (process is not null)
        {
            End(process);
        }
        if (Guid.TryParse(sessionId, out _))
        {
            ClaudeTranscripts.Delete(sessionId, _options.Environment, _logger);
        }
    }

    /// <summary>A session that cannot be continued (nor resumed) any more. Caller holds the lock.</summary>
    private void MarkEnded(string sessionId)
    {
        if (_endedSessions.Add(sessionId))
        {
            _endedOrder.Enqueue(sessionId);
            if (_endedOrder.Count > 10_000)
            {
                _endedSessions.Remove(_endedOrder.Dequeue());
            }
        }
    }

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

    /// <summary>Ends the spare or idle session process <paramref name="pid"/> (for the memory budget); false when it is busy or not ours.</summary>
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

    /// <summary>Whether a turn for this session (or, for a new conversation, this key) would have to start a process.</summary>
    public bool NeedsNewProcess(string? sessionId, ClaudeSessionKey key)
    {
        lock (_lock)
        {
            if (sessionId is { } id)
            {
                return !(_sessions.TryGetValue(id, out var live) && !live.HasExited);
            }
            return !(_spares.TryGetValue(key, out var list) && list.Exists(p => !p.HasExited))
                && !(Recycles(key) && FinishedOneOffs(key, _probe.ClaudePath).Any());
        }
    }

    /// <summary>
    /// Ends the process, and removes its scratch folder unless a newer process of the session has it. A
    /// recycled one's session ends with it, and its transcript (which holds its earlier conversations) is removed.
    /// </summary>
    private void End(ClaudeProcess process)
    {
        process.End();
        lock (_lock)
        {
            if (process.ScratchOwner is { } owner && _scratchOwners.TryGetValue(process.CliSessionId, out var current) && current == owner)
            {
                _scratchOwners.Remove(process.CliSessionId);
                process.RemoveScratchDir();
            }
            if (process.Recycled)
            {
                MarkEnded(process.SessionId);
            }
        }
        if (process.Recycled)
        {
            ClaudeTranscripts.Delete(process.CliSessionId, _options.Environment, _logger);
        }
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
                    _demand.Remove(key);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} ended: claudePath changed")]
    private static partial void LogPathChanged(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} idle; ended")]
    private static partial void LogReaped(ILogger logger, int pid);
}
