using System.Text.Json.Serialization.Metadata;

namespace CodexApiServer.Endpoints;

/// <summary>
/// The event stream of one turn's response. A client that goes away is noted, not thrown: the turn
/// goes on being folded so what is stored is right. While held, events wait in order and go out on
/// release, each still in one write.
/// </summary>
public sealed class SseResponse(HttpResponse response)
{
    private List<byte[]>? _held;

    /// <summary>True once the 200 and the event-stream headers are committed.</summary>
    public bool Started { get; private set; }

    public bool ClientGone { get; private set; }

    public void Start()
    {
        Started = true;
        Sse.Start(response.HttpContext);
    }

    public Task WriteAsync<T>(string? eventType, T value, JsonTypeInfo<T> type) => SendAsync(Sse.Frame(eventType, value, type));

    public Task DoneAsync() => SendAsync(Sse.Done);

    public async Task KeepAliveAsync()
    {
        if (_held is null && !ClientGone)
        {
            await Guard(Sse.KeepAliveAsync(response));
        }
    }

    /// <summary>Keeps what is written from now on until <see cref="ReleaseAsync"/>.</summary>
    public void Hold() => _held ??= [];

    public async Task ReleaseAsync()
    {
        var held = _held;
        _held = null;
        foreach (var frame in held ?? [])
        {
            await SendAsync(frame);
        }
    }

    private async Task SendAsync(byte[] frame)
    {
        if (_held is not null)
        {
            _held.Add(frame);
        }
        else if (!ClientGone)
        {
            await Guard(Sse.SendAsync(response, frame));
        }
    }

    private async Task Guard(Task write)
    {
        try
        {
            await write;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client left; the turn is being cancelled by its token. Nothing more to tell it.
            ClientGone = true;
        }
    }
}
