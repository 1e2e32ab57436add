using System.ComponentModel;

namespace CodexApiServer.Providers.Claude;

/// <summary>Starting claude processes, and the warm spares started ahead of a new conversation.</summary>
internal sealed partial class ClaudeSessions
{
    /// <summary>Most keys with warm spares at once (as Codex keeps spare threads for).</summary>
    private const int MaxSpareKeys = 8;

    /// <summary>
    /// How long a new conversation counts toward its key's demand: the count decays by e every
    /// minute, so a burst of three asks for three spares (up to the maximum) and a steady trickle for one.
    /// </summary>
    private static readonly TimeSpan DemandWindow = TimeSpan.FromMinutes(1);

    /// <summary>New conversations on a key, none continued, before its processes are recycled (<see cref="Recycles"/>).</summary>
    private const int OneShotConversations = 3;

    /// <summary>How long claude may take to answer a rewind (it takes 1-5 ms) before the process is ended instead.</summary>
    private static readonly TimeSpan RewindTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Tops up the spares for <paramref name="key"/> in the background, to as many as its recent demand
    /// asks for (<see cref="SparesWanted"/>). A tool set is part of the key, so spares are per tool set too,
    /// bounded as all spares are: kept while their key was used within the idle timeout (Reap).
    /// </summary>
    public void RefillSpares(ClaudeSessionKey key, IReadOnlyList<ToolDefinition> tools)
    {
        if (_probe.ClaudePath is { } path)
        {
            EnsureSpares(path, key, tools);
        }
    }

    /// <summary>
    /// Starts one spare for <paramref name="key"/> before any request for it (warm at start: the usage
    /// log says it is the one used most), as free memory allows. False when claude is not installed.
    /// </summary>
    public bool Warm(ClaudeSessionKey key)
    {
        if (_probe.ClaudePath is not { } path)
        {
            return false;
        }
        lock (_lock)
        {
            _keysUsed[key] = DateTimeOffset.UtcNow;
            DemandOf(key).Known = true;
        }
        EnsureSpares(path, key, []);
        return true;
    }

    /// <summary>A new conversation on <paramref name="key"/>: its demand goes up by one. Caller holds the lock.</summary>
    private void CountNewConversation(ClaudeSessionKey key)
    {
        var demand = DemandOf(key);
        var now = Environment.TickCount64;
        demand.Recent = demand.RecentAt(now) + 1;
        demand.At = now;
        demand.Conversations++;
    }

    /// <summary>Caller holds the lock.</summary>
    private Demand DemandOf(ClaudeSessionKey key) => _demand.TryGetValue(key, out var d) ? d : _demand[key] = new Demand();

    /// <summary>
    /// Spares to keep for <paramref name="key"/>: none for a key seen once (a one-off system prompt
    /// leaves no process behind), else its recent new conversations, at least one, at most
    /// maxSparesPerModel. Caller holds the lock.
    /// </summary>
    private int SparesWanted(ClaudeSessionKey key)
    {
        var max = _settings.Config.MaxSparesPerModel;
        if (max <= 0 || !_demand.TryGetValue(key, out var demand) || (demand.Conversations < 2 && !demand.Known))
        {
            return 0;
        }
        return Math.Clamp((int)Math.Round(demand.RecentAt(Environment.TickCount64)), 1, max);
    }

    /// <summary>
    /// Whether a new conversation on <paramref name="key"/> may take the process of a finished one-off
    /// conversation (one turn, idle) rather than a spare: in chat mode with spares on (maxSparesPerModel),
    /// once the key has had <see cref="OneShotConversations"/> new conversations and not one continuation
    /// since it was last idle (a batch job, a client's one-off calls). Such a process has run a whole turn, so
    /// the next first token comes sooner than on a fresh spare (about half the CLI's time, README, Warm
    /// spares), and no claude starts for it. A continuation stops it for the key. Caller holds the lock.
    /// </summary>
    private bool Recycles(ClaudeSessionKey key) =>
        !AgentMode && _settings.Config.MaxSparesPerModel > 0
        && _demand.TryGetValue(key, out var demand) && demand.Conversations >= OneShotConversations && demand.Continued == 0;

    /// <summary>Idle processes of <paramref name="key"/> whose conversation had one turn (<see cref="ClaudeProcess.Rewindable"/>). Caller holds the lock.</summary>
    private IEnumerable<ClaudeProcess> FinishedOneOffs(ClaudeSessionKey key, string? path) =>
        _sessions.Values.Where(p => p.Key == key && p.Rewindable && !p.IsBusy && p.CliPath == path && !p.HasExited);

    /// <summary>
    /// Claims the least recently used finished one-off conversation's process of <paramref name="key"/> and ends
    /// its conversation: a continuation of it is told the session is gone, and the server replays it on another
    /// process. Null when there is none. Caller holds the lock.
    /// </summary>
    private ClaudeProcess? TakeFinishedOneOff(ClaudeSessionKey key, string path)
    {
        if (FinishedOneOffs(key, path).MinBy(p => p.LastUsed) is not { } process || !process.TryBeginTurn())
        {
            return null;
        }
        _sessions.Remove(process.SessionId);
        MarkEnded(process.SessionId);
        process.Rewindable = false;
        return process;
    }

    /// <summary>New conversations on one key: a count that decays over <see cref="DemandWindow"/>.</summary>
    private sealed class Demand
    {
        public double Recent { get; set; }

        /// <summary>When <see cref="Recent"/> was set (Environment.TickCount64).</summary>
        public long At { get; set; }

        /// <summary>New conversations since the key was last idle for the idle timeout.</summary>
        public int Conversations { get; set; }

        /// <summary>Warmed at start from the usage log: wanted before its second conversation here.</summary>
        public bool Known { get; set; }

        /// <summary>Turns that continued a conversation (named a session) since the key was last idle.</summary>
        public int Continued { get; set; }

        public double RecentAt(long now) => Recent * Math.Exp(-(now - At) / DemandWindow.TotalMilliseconds);
    }

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

    private void EnsureSpares(string path, ClaudeSessionKey key, IReadOnlyList<ToolDefinition> tools)
    {
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
                        var spare = Start(path, key, tools, Guid.NewGuid().ToString(), resume: false);
                        if (!AgentMode)
                        {
                            // Chat mode only: an agent keeps the operator's settings, whose prompt hooks a blank prompt might run.
                            spare.WarmUp();
                        }
                        _spares[key].Add(spare);
                    }
                    DropOldestSpareKeys();
                }
            }
            catch (Exception e) when (e is Win32Exception or IOException or FileNotFoundException)
            {
                LogStartFailed(_logger, path, e.Message);
            }
        });
    }

    /// <summary>
    /// Keys (model, instructions, effort, schema, tools) can be many: spares are kept for the
    /// <see cref="MaxSpareKeys"/> used last, the others' ended.
    /// </summary>
    private void DropOldestSpareKeys()
    {
        var dropped = new List<ClaudeProcess>();
        lock (_lock)
        {
            while (_spares.Count(s => s.Value.Count > 0) > MaxSpareKeys
                && _spares.Where(s => s.Value.Count > 0).MinBy(s => _keysUsed.GetValueOrDefault(s.Key)) is { Key: var oldest, Value: var list })
            {
                dropped.AddRange(list);
                _spares.Remove(oldest);
            }
        }
        foreach (var process in dropped)
        {
            End(process);
        }
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
            return list.Count < SparesWanted(key);
        }
    }

    private ClaudeProcess Start(string path, ClaudeSessionKey key, IReadOnlyList<ToolDefinition>? tools, string sessionId, bool resume)
    {
        var agentMode = AgentMode;
        var args = ClaudeArgs.Build(key, sessionId, resume, agentMode, ClaudeArgs.PromptNeedsFile(key) ? PromptFile(key.SystemPrompt!) : null);
        string? scratch = null;
        object? owner = null;
        string cwd;
        if (agentMode)
        {
            cwd = _settings.Config.AgentWorkingDirectory!;
        }
        else
        {
            lock (_lock)
            {
                // A resumed session runs in the same folder (claude finds its transcript by it), so an
                // earlier process of this session that is ending now must not remove it under us.
                _scratchOwners[sessionId] = owner = new object();
                scratch = cwd = ScratchDirectory.Create(_settings.DataDir, $"claude-{sessionId}");
            }
        }
        var child = _children.Start(path, args, cwd, agentMode ? _options.Environment : ClaudeArgs.ChatEnvironment(_options.Environment));
        var process = new ClaudeProcess(child, _children, _logger, key, sessionId, scratch, owner, resume, tools) { CliPath = path };
        if (ClaudeArgs.SchemaForStdin(key) is { } schema)
        {
            process.WriteFirst(ClaudeProtocol.InitializeLine(schema));
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
    /// A long prompt goes through a file (a long schema through stdin, see Start): one argv string is capped.
    /// Files are named by content, so pooled processes with the same prompt share one.
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} rewound: a finished one-off conversation's process serves a new one")]
    private static partial void LogRecycled(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Started claude {Pid} for {Model} (resume: {Resume})")]
    private static partial void LogStarted(ILogger logger, int pid, string model, bool resume);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not start claude at {Path}: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string path, string reason);
}
