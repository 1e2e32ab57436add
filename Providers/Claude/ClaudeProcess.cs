using System.Diagnostics;
using System.Threading.Channels;
using CodexApiServer.Children;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// One running `claude -p` in stream-json mode: one conversation (Claude session) for its life.
/// stdout is read line by line into a channel; stderr is drained and logged so the pipe never fills.
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
    private int _ended;
    private Task _first = Task.CompletedTask;

    public ClaudeProcess(Process process, ChildProcesses children, ILogger logger, ClaudeSessionKey key, string sessionId, string? scratchDir, object? scratchOwner, bool resumed)
    {
        _process = process;
        _children = children;
        _logger = logger;
        Key = key;
        SessionId = sessionId;
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

    /// <summary>The claude executable it runs: after a claudePath change, its next turn goes to a new process.</summary>
    public string CliPath { get; init; } = "";
    public string SessionId { get; }
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

    public ChannelReader<ClaudeLine> Lines => _lines.Reader;

    /// <summary>
    /// Queues <paramref name="line"/> as the first thing on stdin without waiting for it: claude reads
    /// stdin only once it has loaded, and a long line would fill the pipe and block our caller until then.
    /// </summary>
    public void WriteFirst(byte[] line) => _first = WriteLineAsync(line, CancellationToken.None);

    public async Task WriteAsync(byte[] line, CancellationToken cancellationToken)
    {
        await _first.WaitAsync(cancellationToken);
        await WriteLineAsync(line, cancellationToken);
    }

    private async Task WriteLineAsync(byte[] line, CancellationToken cancellationToken)
    {
        var stdin = _process.StandardInput.BaseStream;
        await stdin.WriteAsync(line, cancellationToken);
        await stdin.FlushAsync(cancellationToken);
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
            _lines.Writer.TryComplete();
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove scratch directory {Dir}: {Reason}")]
    private static partial void LogScratchNotRemoved(ILogger logger, string dir, string reason);
}
