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

    public static Task WriteAsync<T>(HttpResponse response, string? eventType, T value, JsonTypeInfo<T> type, string? id = null) =>
        SendAsync(response, Frame(eventType, value, type, id));

    /// <summary>One event as the bytes of one write: Kestrel sends every write to the body as its own chunk.</summary>
    public static byte[] Frame<T>(string? eventType, T value, JsonTypeInfo<T> type, string? id = null)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        var frame = new byte[FieldLength(EventPrefix, eventType) + FieldLength(IdPrefix, id) + DataPrefix.Length + json.Length + EndOfEvent.Length];
        var at = WriteField(frame, 0, EventPrefix, eventType);
        at = WriteField(frame, at, IdPrefix, id);
        DataPrefix.CopyTo(frame, at);
        at += DataPrefix.Length;
        json.CopyTo(frame, at);
        at += json.Length;
        EndOfEvent.CopyTo(frame, at);
        return frame;
    }

    /// <summary>A comment, which clients skip: sends the headers and first bytes at once, before any event.</summary>
    public static Task CommentAsync(HttpResponse response, string text) => SendAsync(response, Encoding.UTF8.GetBytes($": {text}\n\n"));

    public static Task KeepAliveAsync(HttpResponse response) => SendAsync(response, KeepAliveBytes);

    /// <summary>The chat stream's last line.</summary>
    public static byte[] Done => DoneBytes;

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

    /// <summary>Writes and flushes: each call is one chunk on the wire.</summary>
    public static async Task SendAsync(HttpResponse response, byte[] bytes)
    {
        var token = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(bytes, token);
        await response.Body.FlushAsync(token);
    }
}
