using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using CodexApiServer.Children;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// One running `claude -p` in stream-json mode: one conversation (Claude session) for its life.
/// stdout is read line by line into a channel; stderr is drained and logged so the pipe never fills.
/// It serves the client's tools to claude itself (<see cref="ClaudeToolServer"/>): claude connects to
/// them at start-up, when no turn runs; only a tools/call goes to the turn, through the channel.
/// </summary>
public sealed partial class ClaudeProcess
{
    /// <summary>Longest stdout line we parse; longer ones (nothing we need is that big) are skipped.</summary>
    public const int MaxLineBytes = 8 * 1024 * 1024;

    private readonly Process _process;
    private readonly ChildProcesses _children;
    private readonly ILogger _logger;
    private readonly Channel<ClaudeLine> _lines = Channel.CreateUnbounded<ClaudeLine>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly StderrTail _stderr = new();

    // Our control requests waiting for claude's control_response, by request id.
    private readonly ConcurrentDictionary<string, TaskCompletionSource<ClaudeLine?>> _replies = new(StringComparer.Ordinal);

    // The ids we gave the user messages of the current conversation, for rewinding it (null when it has none).
    private string? _firstUserUuid;
    private string? _lastUserUuid;

    // One line at a time on stdin, in the order asked: a turn's user message and the answers to
    // claude's control requests (written from the stdout reader) must not interleave. Each write
    // starts when the one before it has ended.
    private readonly Lock _writeGate = new();
    private Task _lastWrite = Task.CompletedTask;
    private int _ended;

    // A spare's warm-up (WarmUp): until its result line completes _warmed, stdout lines are dropped.
    private readonly TaskCompletionSource _warmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Task _warmedTask = Task.CompletedTask;

    /// <param name="tools">The client tools it was started with (<see cref="ClaudeSessionKey.Tools"/>), served to claude; empty for none.</param>
    public ClaudeProcess(Process process, ChildProcesses children, ILogger logger, ClaudeSessionKey key, string sessionId, string? scratchDir, object? scratchOwner, bool resumed, IReadOnlyList<ToolDefinition>? tools = null)
    {
        Tools = tools ?? [];
        _process = process;
        _children = children;
        _logger = logger;
        Key = key;
        SessionId = CliSessionId = sessionId;
        ScratchDir = scratchDir;
        ScratchOwner = scratchOwner;
        Resumed = resumed;
        Pid = process.Id;
        StartedAt = Stopwatch.GetTimestamp();
        LastUsed = DateTimeOffset.UtcNow;
        Completion = Task.WhenAll(
            Task.Run(ReadStdoutAsync),
            Task.Run(() => _stderr.DrainAsync(process.StandardError.BaseStream, line => LogStderr(logger, Pid, line.Length > 2000 ? line[..2000] : line))));
    }

    public ClaudeSessionKey Key { get; }

    /// <summary>The client tools it serves (the same for every process of its key).</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; }

    /// <summary>The claude executable it runs: after a claudePath change, its next turn goes to a new process.</summary>
    public string CliPath { get; init; } = "";
    /// <summary>
    /// The session as the server knows it (what a turn reports, what a continuation names): claude's own
    /// session id, until the process is recycled (<see cref="Recycle"/>) and serves a new conversation under a new one.
    /// </summary>
    public string SessionId { get; private set; }

    /// <summary>claude's session id (--session-id/--resume): its transcript's and scratch folder's name.</summary>
    public string CliSessionId { get; }

    /// <summary>
    /// Rewound and serving another conversation than its first: its session is not resumable from disk
    /// (the transcript holds the earlier conversation too), so once the process is gone its conversation is replayed.
    /// </summary>
    public bool Recycled => SessionId != CliSessionId;

    /// <summary>
    /// Its conversation has had one turn, which called no client tool, and the process was not resumed: it can be
    /// rewound for a new conversation (ClaudeSessions, Recycles). Set as each turn ends.
    /// </summary>
    public bool Rewindable { get; set; }

    public string? ScratchDir { get; }

    /// <summary>Which start of this session the scratch folder belongs to (ClaudeSessions decides who removes it).</summary>
    public object? ScratchOwner { get; }
    public bool Resumed { get; }
    public int Pid { get; }
    public long StartedAt { get; }
    public DateTimeOffset LastUsed { get; set; }
    public int TurnsDone { get; set; }

    // Set while a turn runs, so a second turn on the same session is refused, not interleaved.
    private int _busy;

    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    public bool TryBeginTurn() => Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    public void EndTurn() => Volatile.Write(ref _busy, 0);

    public Task Completion { get; }

    public bool HasExited
    {
        get
        {
            try
            {
                return _process.HasExited;
            }
            catch (InvalidOperationException)
            {
                return true;
            }
        }
    }

    public string StderrTail => _stderr.ToString();

    /// <summary>
    /// A prompt of one space. claude 2.1.331 answers it itself, with nothing sent upstream and nothing
    /// kept in the conversation ("Blank prompt — the message was only whitespace, so nothing was sent
    /// to the model", then a result of 0 turns), but on the way it runs the prompt path a first message
    /// would (session, environment, system prompt): after it, the first real turn reaches the upstream
    /// ≈30 ms sooner (first text 54–64 ms after the user line instead of 76–97 ms, six runs each against a
    /// loopback mock). The next message goes upstream as it would without it, also after a --resume.
    /// </summary>
    internal static readonly byte[] BlankPrompt = "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\" \"}}\n"u8.ToArray();

    /// <summary>Done when the warm-up's answer has been read (at once when there was none, or the process ended): a turn writes its message after it.</summary>
    public Task Warmed => _warmedTask;

    /// <summary>
    /// Sends <see cref="BlankPrompt"/> ahead of any turn, for a spare that waits for a conversation.
    /// Called right after the start, before anything else is written.
    /// </summary>
    public void WarmUp()
    {
        _warmedTask = _warmed.Task;
        WriteFirst(BlankPrompt);
    }

    public ChannelReader<ClaudeLine> Lines => _lines.Reader;

    /// <summary>An id for the next user message (<see cref="ClaudeProtocol.UserLine"/>), remembered for <see cref="RewindAsync"/>.</summary>
    public string NextUserUuid()
    {
        var uuid = Guid.NewGuid().ToString();
        _firstUserUuid ??= uuid;
        _lastUserUuid = uuid;
        return uuid;
    }

    /// <summary>
    /// Empties claude's conversation (rewind_conversation to before its first user message), leaving the
    /// process as warm as a turn made it. False when claude refused, did not answer within
    /// <paramref name="timeout"/>, or ended; the caller ends it then.
    /// </summary>
    public async Task<bool> RewindAsync(TimeSpan timeout)
    {
        if (_firstUserUuid is not { } first || _lastUserUuid is not { } last)
        {
            return false;
        }
        var requestId = "rewind_" + Guid.NewGuid().ToString("N")[..12];
        var reply = new TaskCompletionSource<ClaudeLine?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _replies[requestId] = reply;
        try
        {
            await WriteAsync(ClaudeProtocol.RewindLine(requestId, first, last), CancellationToken.None).WaitAsync(timeout);
            var line = await reply.Task.WaitAsync(timeout);
            if (line is null || line.IsError)
            {
                LogRewindRefused(_logger, Pid, line?.Error ?? "no answer");
                return false;
            }
            _firstUserUuid = _lastUserUuid = null;
            return true;
        }
        catch (Exception e) when (e is TimeoutException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            LogRewindRefused(_logger, Pid, e.Message);
            return false;
        }
        finally
        {
            _replies.TryRemove(requestId, out _);
        }
    }

    /// <summary>Rewound: from now on the process serves a new conversation, known as <paramref name="sessionId"/>.</summary>
    public void Recycle(string sessionId)
    {
        SessionId = sessionId;
        TurnsDone = 0;
    }

    /// <summary>
    /// Queues <paramref name="line"/> as the first thing on stdin without waiting for it: claude reads
    /// stdin only once it has loaded, and a long line would fill the pipe and block our caller until then.
    /// Called before anything else can write, so later writes queue behind it.
    /// </summary>
    public void WriteFirst(byte[] line) => _ = WriteQuietlyAsync(line);

    /// <summary>
    /// Writes <paramref name="line"/> after every line asked before it. Cancelling stops the wait, not
    /// a write under way: a cancelled turn ends the process, which ends the write too.
    /// </summary>
    public Task WriteAsync(byte[] line, CancellationToken cancellationToken)
    {
        Task write;
        lock (_writeGate)
        {
            write = _lastWrite = WriteAfterAsync(_lastWrite, line);
        }
        return write.WaitAsync(cancellationToken);
    }

    private async Task WriteAfterAsync(Task before, byte[] line)
    {
        // Its failure is its writer's to see; this line is tried anyway.
        await before.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var stdin = _process.StandardInput.BaseStream;
        await stdin.WriteAsync(line);
        await stdin.FlushAsync();
    }

    /// <summary>A write nobody waits for (the stdout reader must not): a failure is the process ending, which the turn sees anyway.</summary>
    private async Task WriteQuietlyAsync(byte[] line)
    {
        try
        {
            await WriteAsync(line, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            LogWriteFailed(_logger, Pid, e.Message);
        }
    }

    /// <summary>Ends the process and its tree now (claude exits on SIGTERM at once): a cancelled turn must stop the upstream request.</summary>
    public void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            _children.End(_process);
        }
    }

    public void RemoveScratchDir()
    {
        if (ScratchDir is not null)
        {
            try
            {
                Directory.Delete(ScratchDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogScratchNotRemoved(_logger, ScratchDir, e.Message);
            }
        }
    }

    private async Task ReadStdoutAsync()
    {
        var reader = new Utf8LineReader(_process.StandardOutput.BaseStream, MaxLineBytes);
        try
        {
            while (await reader.ReadLineAsync(_ => LogSkipped(_logger, Pid, MaxLineBytes), CancellationToken.None) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }
                var parsed = ClaudeProtocol.Parse(line);
                if (parsed is null)
                {
                    LogGarbage(_logger, Pid, line.Length);
                    continue;
                }
                if (parsed.Kind is ClaudeLineKind.McpRequest or ClaudeLineKind.ControlRequest)
                {
                    // Answered here, turn or not: claude connects to our tool server while it loads.
                    LogControlRequest(_logger, Pid, parsed.Subtype ?? "mcp_message", parsed.Method ?? "");
                    _ = WriteQuietlyAsync(ClaudeToolServer.Answer(parsed, Tools));
                    continue;
                }
                if (parsed.Kind == ClaudeLineKind.ControlResponse)
                {
                    if (parsed.RequestId is { } id && _replies.TryRemove(id, out var waiting))
                    {
                        waiting.TrySetResult(parsed);
                    }
                    continue;
                }
                if (!_warmedTask.IsCompleted)
                {
                    // The warm-up's own lines are nobody's turn.
                    if (parsed.Kind == ClaudeLineKind.Result)
                    {
                        _warmed.TrySetResult();
                    }
                    continue;
                }
                // Stream events other than deltas still count: they are the upstream answering (see CliActivity).
                if (parsed.Kind != ClaudeLineKind.Other)
                {
                    _lines.Writer.TryWrite(parsed);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            LogReadFailed(_logger, Pid, e.Message);
        }
        finally
        {
            _warmed.TrySetResult();
            _lines.Writer.TryComplete();
            foreach (var waiting in _replies.Values)
            {
                waiting.TrySetResult(null);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} stderr: {Line}")]
    private static partial void LogStderr(ILogger logger, int pid, string line);

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} wrote a line that is not JSON ({Bytes} bytes); skipped")]
    private static partial void LogGarbage(ILogger logger, int pid, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "claude {Pid} wrote a line longer than {Max} bytes; skipped")]
    private static partial void LogSkipped(ILogger logger, int pid, int max);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reading claude {Pid} stdout failed: {Reason}")]
    private static partial void LogReadFailed(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Writing to claude {Pid} failed: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "claude {Pid} control request {Subtype} {Method}")]
    private static partial void LogControlRequest(ILogger logger, int pid, string subtype, string method);

    [LoggerMessage(Level = LogLevel.Information, Message = "claude {Pid} could not rewind its conversation ({Reason}); it ends instead of serving another")]
    private static partial void LogRewindRefused(ILogger logger, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove scratch directory {Dir}: {Reason}")]
    private static partial void LogScratchNotRemoved(ILogger logger, string dir, string reason);
}
