using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;

namespace CodexApiServer.Endpoints;

/// <summary>Server-sent events written by hand, one flush per event, so every byte is ours.</summary>
public static class Sse
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] IdPrefix = "id: "u8.ToArray();
    private static readonly byte[] EndOfEvent = "\n\n"u8.ToArray();
    private static readonly byte[] KeepAliveBytes = ": keep-alive\n\n"u8.ToArray();
    private static readonly byte[] DoneBytes = "data: [DONE]\n\n"u8.ToArray();

    public static void Start(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public static async Task WriteAsync<T>(HttpResponse response, string? eventType, T value, JsonTypeInfo<T> type, string? id = null)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        await WriteRawAsync(response, eventType, json, id);
    }

    /// <summary>One event in one write: Kestrel sends every write to the body as its own chunk.</summary>
    public static Task WriteRawAsync(HttpResponse response, string? eventType, byte[] json, string? id = null)
    {
        var frame = new byte[FieldLength(EventPrefix, eventType) + FieldLength(IdPrefix, id) + DataPrefix.Length + json.Length + EndOfEvent.Length];
        var at = WriteField(frame, 0, EventPrefix, eventType);
        at = WriteField(frame, at, IdPrefix, id);
        DataPrefix.CopyTo(frame, at);
        at += DataPrefix.Length;
        json.CopyTo(frame, at);
        at += json.Length;
        EndOfEvent.CopyTo(frame, at);
        return WriteFlushedAsync(response, frame);
    }

    /// <summary>A comment, which clients skip: sends the headers and first bytes at once, before any event.</summary>
    public static Task CommentAsync(HttpResponse response, string text) => WriteFlushedAsync(response, Encoding.UTF8.GetBytes($": {text}\n\n"));

    public static Task KeepAliveAsync(HttpResponse response) => WriteFlushedAsync(response, KeepAliveBytes);

    public static Task DoneAsync(HttpResponse response) => WriteFlushedAsync(response, DoneBytes);

    private static int FieldLength(byte[] prefix, string? value) => value is null ? 0 : prefix.Length + Encoding.UTF8.GetByteCount(value) + 1;

    private static int WriteField(byte[] frame, int at, byte[] prefix, string? value)
    {
        if (value is null)
        {
            return at;
        }
        prefix.CopyTo(frame, at);
        at += prefix.Length;
        at += Encoding.UTF8.GetBytes(value, frame.AsSpan(at));
        frame[at++] = (byte)'\n';
        return at;
    }

    private static async Task WriteFlushedAsync(HttpResponse response, byte[] bytes)
    {
        var token = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(bytes, token);
        await response.Body.FlushAsync(token);
    }
}
