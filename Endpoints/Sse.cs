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

    public static async Task WriteAsync<T>(HttpResponse response, string? eventType, T value, JsonTypeInfo<T> type)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        await WriteRawAsync(response, eventType, json);
    }

    /// <summary>One event in one write: Kestrel sends every write to the body as its own chunk.</summary>
    public static async Task WriteRawAsync(HttpResponse response, string? eventType, byte[] json)
    {
        var eventLine = eventType is null ? 0 : EventPrefix.Length + Encoding.UTF8.GetByteCount(eventType) + 1;
        var frame = new byte[eventLine + DataPrefix.Length + json.Length + EndOfEvent.Length];
        var at = 0;
        if (eventType is not null)
        {
            EventPrefix.CopyTo(frame, at);
            at += EventPrefix.Length;
            at += Encoding.UTF8.GetBytes(eventType, frame.AsSpan(at));
            frame[at++] = (byte)'\n';
        }
        DataPrefix.CopyTo(frame, at);
        at += DataPrefix.Length;
        json.CopyTo(frame, at);
        at += json.Length;
        EndOfEvent.CopyTo(frame, at);
        var token = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(frame, token);
        await response.Body.FlushAsync(token);
    }

    public static async Task KeepAliveAsync(HttpResponse response)
    {
        await response.Body.WriteAsync(KeepAliveBytes, response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }

    public static async Task DoneAsync(HttpResponse response)
    {
        await response.Body.WriteAsync(DoneBytes, response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}
