using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// JSON-RPC 2.0 over a pair of pipes, one JSON object per line (the codex app-server dialect: no
/// "jsonrpc" member). Requests we send are matched to answers by id; server requests and
/// notifications go to the callbacks. When the other side goes away every pending request fails.
/// </summary>
internal sealed partial class JsonRpcLineClient : IAsyncDisposable
{
    public const int DefaultMaxLineBytes = 16 * 1024 * 1024;

    private readonly Stream _input;
    private readonly Utf8LineReader _reader;
    private readonly ILogger _logger;
    private readonly Action<JsonElement> _onNotification;
    private readonly Func<JsonElement, JsonElement, ValueTask> _onServerRequest;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private long _nextId;
    private volatile bool _closed;
    private int _disposeCount;

    /// <param name="onNotification">Called on the reader loop for each notification; must not block.</param>
    /// <param name="onServerRequest">Called with (id, whole message) for each request from the other side; must answer it.</param>
    public JsonRpcLineClient(Stream input, Stream output, ILogger logger,
        Action<JsonElement> onNotification, Func<JsonElement, JsonElement, ValueTask> onServerRequest,
        int maxLineBytes = DefaultMaxLineBytes)
    {
        _input = input;
        _reader = new Utf8LineReader(output, maxLineBytes);
        _logger = logger;
        _onNotification = onNotification;
        _onServerRequest = onServerRequest;
        Completion = Task.Run(ReadLoopAsync);
    }

    /// <summary>Ends when the other side closes its output (usually: the process exited).</summary>
    public Task Completion { get; }

    public bool IsClosed => _closed;

    public async Task<JsonElement> RequestAsync(string method, Action<Utf8JsonWriter>? writeParams, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            if (_closed)
            {
                throw new IOException("the codex app-server has exited");
            }
            await WriteAsync(w =>
            {
                w.WriteNumber("id", id);
                w.WriteString("method", method);
                if (writeParams is not null)
                {
                    w.WritePropertyName("params");
                    w.WriteStartObject();
                    writeParams(w);
                    w.WriteEndObject();
                }
            }, cancellationToken);
            return await answer.Task.WaitAsync(timeout, cancellationToken);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public Task NotifyAsync(string method, CancellationToken cancellationToken) =>
        WriteAsync(w => w.WriteString("method", method), cancellationToken);

    public Task RespondAsync(JsonElement id, Action<Utf8JsonWriter> writeResult) =>
        WriteAsync(w =>
        {
            w.WritePropertyName("id");
            id.WriteTo(w);
            w.WritePropertyName("result");
            w.WriteStartObject();
            writeResult(w);
            w.WriteEndObject();
        }, CancellationToken.None);

    public Task RespondErrorAsync(JsonElement id, int code, string message) =>
        WriteAsync(w =>
        {
            w.WritePropertyName("id");
            id.WriteTo(w);
            w.WritePropertyName("error");
            w.WriteStartObject();
            w.WriteNumber("code", code);
            w.WriteString("message", message);
            w.WriteEndObject();
        }, CancellationToken.None);

    private async Task WriteAsync(Action<Utf8JsonWriter> writeMembers, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeMembers(writer);
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _input.WriteAsync(buffer.WrittenMemory, cancellationToken);
            await _input.FlushAsync(cancellationToken);
        }
        catch (ObjectDisposedException)
        {
            throw new IOException("the codex app-server has exited");
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var line = await _reader.ReadLineAsync(size => LogOversized(_logger, size), _stop.Token);
                if (line is null)
                {
                    break;
                }
                if (line.Value.Length == 0)
                {
                    continue;
                }
                JsonElement message;
                try
                {
                    var reader = new Utf8JsonReader(line.Value.Span);
                    message = JsonElement.ParseValue(ref reader);
                }
                catch (JsonException)
                {
                    LogGarbage(_logger, line.Value.Length);
                    continue;
                }
                if (message.ValueKind != JsonValueKind.Object)
                {
                    LogGarbage(_logger, line.Value.Length);
                    continue;
                }
                await DispatchAsync(message);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The pipe went away with the process; handled below like an end of stream.
        }
        finally
        {
            _closed = true;
            foreach (var (_, pending) in _pending)
            {
                pending.TrySetException(new IOException("the codex app-server has exited"));
            }
        }
    }

    private async ValueTask DispatchAsync(JsonElement message)
    {
        var hasId = message.TryGetProperty("id", out var id) && id.ValueKind is JsonValueKind.Number or JsonValueKind.String;
        var hasMethod = message.TryGetProperty("method", out var method) && method.ValueKind == JsonValueKind.String;
        try
        {
            if (hasId && hasMethod)
            {
                await _onServerRequest(id, message);
            }
            else if (hasMethod)
            {
                _onNotification(message);
            }
            else if (hasId && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var number) && _pending.TryGetValue(number, out var pending))
            {
                if (message.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                {
                    var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt64(out var n) ? n : 0;
                    var text = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "error";
                    pending.TrySetException(new JsonRpcException(code, text));
                }
                else
                {
                    pending.TrySetResult(message.TryGetProperty("result", out var result) ? result : default);
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or JsonException or KeyNotFoundException or FormatException)
        {
            // One bad message must not stop the loop that every turn depends on.
            LogDispatchFailed(_logger, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        try
        {
            await Completion.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
        }
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server wrote a line of {Bytes} bytes, over the limit; skipped it")]
    private static partial void LogOversized(ILogger logger, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server wrote a line that is not a JSON object ({Bytes} bytes); skipped it")]
    private static partial void LogGarbage(ILogger logger, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handling a codex app-server message failed: {Reason}")]
    private static partial void LogDispatchFailed(ILogger logger, string reason);
}
