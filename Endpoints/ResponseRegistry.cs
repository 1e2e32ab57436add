using System.Collections.Concurrent;

namespace CodexApiServer.Endpoints;

/// <summary>Responses still running (foreground or background), so the cancel route can stop them.</summary>
public sealed class ResponseRegistry
{
    private readonly ConcurrentDictionary<string, Entry> _running = new(StringComparer.Ordinal);

    private sealed record Entry(CancellationTokenSource Cts, TaskCompletionSource<ResponseObject> Done);

    public CancellationTokenSource Register(string id, CancellationToken linked)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _running[id] = new Entry(cts, new TaskCompletionSource<ResponseObject>(TaskCreationOptions.RunContinuationsAsynchronously));
        return cts;
    }

    public void Complete(string id, ResponseObject final)
    {
        if (_running.TryRemove(id, out var entry))
        {
            entry.Done.TrySetResult(final);
            entry.Cts.Dispose();
        }
    }

    /// <summary>Stops a running response and waits for its final state; null when it is not running here.</summary>
    public async Task<ResponseObject?> CancelAsync(string id)
    {
        if (!_running.TryGetValue(id, out var entry))
        {
            return null;
        }
        try
        {
            await entry.Cts.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // It finished meanwhile; its final state is in Done.
        }
        return await entry.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void CancelAll()
    {
        foreach (var entry in _running.Values)
        {
            try
            {
                entry.Cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
