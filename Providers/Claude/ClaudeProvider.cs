using System.Runtime.CompilerServices;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// Claude Code through persistent `claude -p` stream-json processes: one process per conversation,
/// kept between turns, plus warm spares so a new conversation does not wait for a start (ClaudeSessions).
/// Our session handle is the Claude session id: sessions persist on disk (no
/// --no-session-persistence), so one whose process was reaped, cancelled or restarted continues
/// with `--resume`.
/// </summary>
public sealed partial class ClaudeProvider : ITurnProvider, ICliProcessOwner, IAsyncDisposable
{
    private readonly ServerSettings _settings;
    private readonly ILogger<ClaudeProvider> _logger;
    private readonly ClaudeSessions _sessions;
    private readonly CliProbe _probe;
    private readonly UsageWindows? _usage;

    public ClaudeProvider(ServerSettings settings, CliProbe probe, ChildProcesses children, ILogger<ClaudeProvider> logger, ClaudeProviderOptions? options = null, MemoryBudget? budget = null, UsageWindows? usage = null)
    {
        _settings = settings;
        _usage = usage;
        _logger = logger;
        _probe = probe;
        _sessions = new ClaudeSessions(settings, probe, children, logger, options ?? new ClaudeProviderOptions(), budget);
        budget?.AddOwner(this);
    }

    public ProviderKind Kind => ProviderKind.Claude;

    /// <summary>Every claude PID this provider started, in order (tests check they are gone).</summary>
    public IReadOnlyList<int> StartedPids => _sessions.StartedPids;

    /// <summary>The PID serving a live session, or null.</summary>
    public int? PidOf(string sessionId) => _sessions.PidOf(sessionId);

    /// <summary>Started spares waiting for a conversation.</summary>
    public int SpareCount => _sessions.SpareCount;

    private bool AgentMode => _settings.Config.Mode == "agent";

    private bool AppendPrompt => _settings.Config.ClaudeSystemPrompt == "append";

    public async IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (process, error, refillAtFirstOutput) = await AcquireAsync(request);
        if (error is not null)
        {
            yield return TurnEnded.Failed(error);
            yield break;
        }
        var finished = false;
        var calledTools = false;
        var decoder = new ClaudeTurnDecoder(process!.SessionId, process.Resumed && process.TurnsDone == 0, structured: request.OutputSchema is not null);
        try
        {
            // A spare may still be answering its warm-up: its lines must not be taken for this turn's.
            await process.Warmed.WaitAsync(cancellationToken);
            var writeError = await WriteAsync(process, ClaudeProtocol.UserLine(request.Messages, ToolChoice.Instruction(request), process.NextUserUuid()), cancellationToken);
            if (writeError is not null)
            {
                yield return Fail(process, writeError);
                finished = true;
                yield break;
            }
            while (true)
            {
                var line = await NextLineAsync(process, cancellationToken);
                if (line is null)
                {
                    finished = true;
                    yield return Fail(process, decoder.EndedEarly());
                    yield break;
                }
                if (line.RateLimit is { } limit)
                {
                    _usage?.ReportClaude(limit);
                }
                foreach (var ev in decoder.Decode(line))
                {
                    if (refillAtFirstOutput && ev is TextDelta or ReasoningDelta or ToolCallsRequested or TurnEnded)
                    {
                        refillAtFirstOutput = false;
                        _sessions.RefillSpares(process.Key, process.Tools);
                    }
                    switch (ev)
                    {
                        case TurnEnded { Error: { } failure }:
                            finished = true;
                            yield return Fail(process, failure);
                            yield break;
                        case TurnEnded:
                            finished = true;
                            ClaudeSessions.Release(process, calledTools);
                            yield return ev;
                            yield break;
                        case ToolCallsRequested calls:
                            // claude waits in its tools/call meanwhile; TurnRun stops the turn's clocks.
                            LogToolCalls(_logger, process.Pid, calls.Calls.Count);
                            calledTools = true;
                            yield return calls;
                            decoder.Answer(calls, await calls.Results.WaitAsync(cancellationToken));
                            break;
                        case CliActivity when line.Kind == ClaudeLineKind.ApiRetry:
                            LogRetry(_logger, process.Pid, line.ErrorStatus ?? 0, line.Error ?? "");
                            yield return ev;
                            break;
                        default:
                            yield return ev;
                            break;
                    }
                }
                foreach (var reply in decoder.TakeReplies())
                {
                    if (await WriteAsync(process, reply, cancellationToken) is { } replyError)
                    {
                        finished = true;
                        yield return Fail(process, replyError);
                        yield break;
                    }
                }
            }
        }
        finally
        {
            if (!finished)
            {
                // Cancelled, or the caller stopped reading: end the process so the upstream request stops too.
                LogCancelled(_logger, process.Pid);
                _sessions.Forget(process);
            }
            if (request.SessionId is not null || refillAtFirstOutput)
            {
                // A spare ended for room or one that died is replaced once a conversation's turn is over; so is
                // the one this turn took if it ended before any output.
                _sessions.RefillSpares(process.Key, process.Tools);
            }
        }
    }

    /// <summary>
    /// Starts a spare for new conversations on <paramref name="cliModel"/> without instructions, tools or
    /// schema (warm at start). False when claude is not installed.
    /// </summary>
    public bool Warm(string cliModel) => ModelName.IsValid(cliModel) && _sessions.Warm(new ClaudeSessionKey(
        cliModel, AgentMode || AppendPrompt ? null : ClaudeArgs.DefaultChatPrompt, Effort: null, Schema: null, Tools: null, AppendPrompt));

    public ValueTask EndSessionAsync(string sessionId)
    {
        _sessions.EndSession(sessionId);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _sessions.DisposeAsync();

    private async Task<(ClaudeProcess? Process, ProviderError? Error, bool RefillAtFirstOutput)> AcquireAsync(TurnRequest request)
    {
        if (!request.Messages.Any(m => m.Role is not ("system" or "developer") && m.Parts.Count > 0))
        {
            return (null, new ProviderError(ProviderErrorKind.InvalidRequest, "the conversation has no user message"), false);
        }
        if (!ModelName.IsValid(request.Model.CliModel))
        {
            return (null, new ProviderError(ProviderErrorKind.InvalidRequest, "invalid model name"), false);
        }
        return await _sessions.AcquireAsync(ClaudeArgs.KeyOf(request, AgentMode, AppendPrompt), ClaudeArgs.DeclaredTools(request), request.SessionId);
    }

    public IReadOnlyList<CliProcessEntry> CliProcesses() => _sessions.CliProcesses();

    public bool EndIdle(int pid) => _sessions.EndIdle(pid);

    public bool NeedsNewProcess(TurnRequest request) => _sessions.NeedsNewProcess(request.SessionId, ClaudeArgs.KeyOf(request, AgentMode, AppendPrompt));

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

    private TurnEnded Fail(ClaudeProcess process, ProviderError error)
    {
        // Its stderr goes to the operator's log only: it can hold paths, addresses or tokens a key holder should not see.
        LogTurnFailed(_logger, process.Pid, error.Kind, error.Message, process.StderrTail);
        if (error.Kind == ProviderErrorKind.SubscriptionRefused)
        {
            // Shown on the dashboard: the operator, not only the caller, has to act on it.
            _probe.RecordRefusal("claude", error.Message);
            error = error with { Hint = $"{error.Hint} This server has claudeSystemPrompt \"{_settings.Config.ClaudeSystemPrompt}\"." };
        }
        _sessions.Forget(process);
        return TurnEnded.Failed(error);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} upstream retry: status {Status} {Error}")]
    private static partial void LogRetry(ILogger logger, int pid, int status, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} called {Count} client tool(s); the turn waits for their results")]
    private static partial void LogToolCalls(ILogger logger, int pid, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} turn cancelled; process ended")]
    private static partial void LogCancelled(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "claude {Pid} turn failed ({Kind}): {Reason}; last stderr: {Stderr}")]
    private static partial void LogTurnFailed(ILogger logger, int pid, ProviderErrorKind kind, string reason, string stderr);
}
