using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// The Codex threads loaded in the app-server: one per conversation, and one spare started ahead per
/// (model, instructions, client tool set) in use, so a new conversation does not wait for thread/start. The number
/// loaded is bounded. An ephemeral thread's conversation is replayed into a new thread when it goes on after the thread
/// was unloaded or its app-server ended; a thread kept on disk (a stored response's, an agent's) is resumed.
/// </summary>
/// <param name="currentServer">The app-server running now, if any: threads are unloaded and deleted there.</param>
/// <param name="stopped">True once the provider is disposed: no more spares are started.</param>
internal sealed partial class CodexThreadTable(ServerSettings settings, CodexProviderOptions options, ILogger logger,
    Func<CodexAppServer?> currentServer, Func<bool> stopped)
{
    private const int MaxSpareKeys = 8;

    private readonly ConcurrentDictionary<string, CodexThread> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<SpareKey, CodexThread> _spares = new();
    private readonly ConcurrentDictionary<SpareKey, byte> _refilling = new();

    /// <summary>Threads started ahead and waiting for a new conversation.</summary>
    public int SpareCount => _spares.Count;

    private bool AgentMode => CodexThreadSettings.IsAgentMode(settings.Config);

    /// <summary>New threads keep Codex's own base instructions (the upstream refused ours); the provider sets it.</summary>
    public volatile bool CodexBaseInstructions;

    /// <summary>The thread for a request: a new one (a spare if there is one), a loaded one, or one resumed from disk.</summary>
    public async Task<(CodexThread? Thread, ProviderError? Error)> ResolveAsync(CodexAppServer server, TurnRequest request, CancellationToken cancellationToken)
    {
        if (request.SessionId is null)
        {
            try
            {
                var fresh = TakeSpare(server, request) ?? await StartThreadAsync(server, request, cancellationToken);
                fresh.LastUsed = Stopwatch.GetTimestamp();
                _sessions[fresh.ThreadId] = fresh;
                EvictIdle();
                return (fresh, null);
            }
            catch (JsonRpcException e) when (!AgentMode && e.Message.Contains("config", StringComparison.OrdinalIgnoreCase))
            {
                // Without these settings a chat thread would get codex's shell and the user's MCP servers: no answer beats that.
                LogChatConfigRefused(logger, e.Message);
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
            if (!CodexThreadSettings.ToolsFit(known.ToolsDigest, request))
            {
                // Its tools are fixed at thread/start: the conversation goes on in a new thread with these (the history replayed).
                return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"Codex thread {request.SessionId} was started with other tools"));
            }
            known.LastUsed = Stopwatch.GetTimestamp();
            return (known, null);
        }
        if (known is { Ephemeral: true } || known?.ToolsDigest is not null || CodexThreadSettings.ToolsDigest(request) is not null)
        {
            // Nothing of an ephemeral thread is on disk to resume. And thread/resume cannot turn on the raw events that
            // say when the model's step of tool calls is over (nor check which tools a thread of an earlier run had).
            // Either way the conversation is replayed in a new thread.
            if (known is not null && _sessions.TryRemove(new KeyValuePair<string, CodexThread>(request.SessionId, known)))
            {
                CodexScratchDirs.Delete(known.ScratchDir);
            }
            return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"Codex thread {request.SessionId} is no longer loaded"));
        }

        // A thread of an earlier process (ours, or before a restart of the whole server): codex keeps non-ephemeral
        // threads on disk, so resume it (an ephemeral one unloaded since is not found, and is replayed).
        var scratch = known?.ScratchDir ?? CodexScratchDirs.Create(settings.DataDir);
        try
        {
            var mcpServers = await McpServersToDisableAsync(server, scratch, cancellationToken);
            var config = settings.Config;
            await server.Rpc.RequestAsync("thread/resume", w => CodexThreadSettings.WriteThreadResume(w, config, request.SessionId, request, scratch, mcpServers, CodexBaseInstructions),
                options.RequestTimeout, cancellationToken);
        }
        catch (JsonRpcException e)
        {
            LogResumeFailed(logger, request.SessionId, e.Message);
            if (known is null)
            {
                CodexScratchDirs.Delete(scratch);
            }
            else
            {
                _sessions.TryRemove(request.SessionId, out _);
                CodexScratchDirs.Delete(known.ScratchDir);
            }
            return (null, new ProviderError(ProviderErrorKind.SessionNotFound, $"Codex thread {request.SessionId} is neither live nor resumable"));
        }
        var session = known ?? _sessions.GetOrAdd(request.SessionId, id => new CodexThread(id, scratch));
        session.Generation = server.Generation;
        session.LastUsed = Stopwatch.GetTimestamp();
        EvictIdle();
        return (session, null);
    }

    private async Task<CodexThread> StartThreadAsync(CodexAppServer server, TurnRequest request, CancellationToken cancellationToken)
    {
        var scratch = CodexScratchDirs.Create(settings.DataDir);
        try
        {
            var mcpServers = await McpServersToDisableAsync(server, scratch, cancellationToken);
            var config = settings.Config;
            var result = await server.Rpc.RequestAsync("thread/start", w => CodexThreadSettings.WriteThreadStart(w, config, request, scratch, mcpServers, CodexBaseInstructions),
                options.RequestTimeout, cancellationToken);
            var threadId = CodexProtocol.Str(CodexProtocol.Prop(result, "thread"), "id")
                ?? throw new InvalidOperationException("thread/start answered without a thread id");
            return new CodexThread(threadId, scratch, CodexThreadSettings.ToolsDigest(request), CodexThreadSettings.Ephemeral(config, request)) { Generation = server.Generation };
        }
        catch
        {
            CodexScratchDirs.Delete(scratch);
            throw;
        }
    }

    private SpareKey SpareKeyOf(TurnRequest request) =>
        new(request.Model.CliModel, request.Instructions ?? "", AgentMode ? settings.Config.AgentWorkingDirectory : null, CodexThreadSettings.ToolsDigest(request), CodexBaseInstructions,
            CodexThreadSettings.Ephemeral(settings.Config, request));

    private CodexThread? TakeSpare(CodexAppServer server, TurnRequest request)
    {
        if (!_spares.TryRemove(SpareKeyOf(request), out var spare))
        {
            return null;
        }
        if (spare.Generation != server.Generation)
        {
            CodexScratchDirs.Delete(spare.ScratchDir);
            return null;
        }
        return spare;
    }

    /// <summary>Starts the thread the next new conversation with these settings takes, unless one is there or on its way.</summary>
    public void RefillSpare(CodexAppServer server, TurnRequest request)
    {
        var key = SpareKeyOf(request);
        if (stopped() || !server.IsAlive || _spares.ContainsKey(key) || !_refilling.TryAdd(key, 0))
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
                else if (stopped() && _spares.TryRemove(new KeyValuePair<SpareKey, CodexThread>(key, spare)))
                {
                    // Disposed while it started: Clear may have run already.
                    CodexScratchDirs.Delete(spare.ScratchDir);
                }
                while (_spares.Count > MaxSpareKeys
                    && _spares.MinBy(s => s.Value.LastUsed) is { Key: var oldest } && _spares.TryRemove(oldest, out var dropped))
                {
                    await UnloadAsync(dropped);
                }
            }
            catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException or InvalidOperationException or ObjectDisposedException)
            {
                LogSpareFailed(logger, e.Message);
            }
            finally
            {
                _refilling.TryRemove(key, out _);
            }
        });
    }

    /// <summary>
    /// The MCP servers codex would start for a chat thread in <paramref name="cwd"/> (the user's config and
    /// any project layer), each to be switched off by name: an empty `mcp_servers` override is merged
    /// into the user's table, not put in its place (checked with codex 0.169). Read for every thread, so
    /// a server added to the config since is off too. None in agent mode: there the operator's tools are meant.
    /// </summary>
    private async Task<IReadOnlyList<string>> McpServersToDisableAsync(CodexAppServer server, string cwd, CancellationToken cancellationToken)
    {
        if (AgentMode)
        {
            return [];
        }
        JsonElement result;
        try
        {
            result = await server.Rpc.RequestAsync("config/read", w => w.WriteString("cwd", cwd), options.RequestTimeout, cancellationToken);
        }
        catch (JsonRpcException e)
        {
            // Without the list a chat thread could start the user's MCP servers: a chat config refusal.
            throw new JsonRpcException(e.Code, "reading the effective config failed: " + e.Message);
        }
        return CodexThreadSettings.McpServerNames(result);
    }

    /// <summary>Scratch folders of an earlier run (none of a thread loaded now).</summary>
    public void RemoveStaleScratchDirs() =>
        CodexScratchDirs.RemoveStale(settings.DataDir, _sessions.Values.Concat(_spares.Values).Select(s => s.ScratchDir).ToHashSet(StringComparer.Ordinal));

    /// <summary>
    /// Keeps the number of loaded threads bounded. A later turn on an evicted thread resumes it from disk, or replays
    /// its conversation if it was ephemeral: eviction costs that, never the conversation.
    /// </summary>
    private void EvictIdle()
    {
        var excess = _sessions.Count - options.MaxLiveSessions;
        if (excess <= 0)
        {
            return;
        }
        var idle = _sessions.Values.Where(s => s.Lock.CurrentCount == 1).OrderBy(s => s.LastUsed).Take(excess).ToList();
        foreach (var session in idle)
        {
            LogEvicted(logger, session.ThreadId);
            _ = EndAsync(session.ThreadId).AsTask();
        }
    }

    public async ValueTask EndAsync(string sessionId)
    {
        if (!_sessions.TryRemove(sessionId, out var session))
        {
            return;
        }
        session.Ended = true;
        await UnloadAsync(session);
    }

    /// <summary>Also has codex delete the thread's rollout (its transcript under CODEX_HOME/sessions), loaded or not.</summary>
    public async ValueTask DeleteAsync(string sessionId)
    {
        await EndAsync(sessionId);
        if (currentServer() is not { IsAlive: true } server)
        {
            return;
        }
        try
        {
            await server.Rpc.RequestAsync("thread/delete", w => w.WriteString("threadId", sessionId), TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
        {
            LogUnsubscribeFailed(logger, sessionId, e.Message);
        }
    }

    /// <summary>Lets codex unload the thread (if its process still runs) and removes its scratch folder.</summary>
    private async Task UnloadAsync(CodexThread session)
    {
        if (currentServer() is { IsAlive: true } server && session.Generation == server.Generation)
        {
            try
            {
                await server.Rpc.RequestAsync("thread/unsubscribe", w => w.WriteString("threadId", session.ThreadId), TimeSpan.FromSeconds(5), CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
            {
                LogUnsubscribeFailed(logger, session.ThreadId, e.Message);
            }
        }
        CodexScratchDirs.Delete(session.ScratchDir);
    }

    /// <summary>Forgets every thread and removes their scratch folders (the provider is disposed).</summary>
    public void Clear()
    {
        foreach (var session in _sessions.Values.Concat(_spares.Values))
        {
            CodexScratchDirs.Delete(session.ScratchDir);
        }
        _sessions.Clear();
        _spares.Clear();
    }

    /// <param name="Tools">The digest of the client tools the thread declares: conversations with other tools never share a spare.</param>
    private readonly record struct SpareKey(string Model, string Instructions, string? AgentDir, string? Tools, bool CodexBaseInstructions, bool Ephemeral);

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
}
