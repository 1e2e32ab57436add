using CodexApiServer.Hosting;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// The turns waiting for the client's tool results, by call id. A follow-up that answers a held turn's
/// calls takes it (<see cref="Take"/>); one that never comes is answered as failed after
/// toolResultTimeoutSeconds, and its turn ended so its process or thread is freed.
/// </summary>
public sealed partial class HeldTurns(ServerSettings settings, ILogger<HeldTurns> logger) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _byCallId = new(StringComparer.Ordinal);

    private sealed record Entry(HeldTurn Turn, string? ApiKeyId, CancellationTokenSource Expiry);

    /// <summary>How many turns are held now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byCallId.Values.Distinct().Count();
            }
        }
    }

    /// <param name="apiKeyId">Who asked: only the same key may answer.</param>
    public void Hold(HeldTurn turn, string? apiKeyId)
    {
        var entry = new Entry(turn, apiKeyId, new CancellationTokenSource());
        lock (_lock)
        {
            foreach (var call in turn.Calls.Calls)
            {
                _byCallId[call.Id] = entry;
            }
        }
        _ = ExpireAsync(entry, TimeSpan.FromSeconds(settings.Config.ToolResultTimeoutSeconds));
    }

    /// <summary>
    /// The held turn these results answer, taken out of the registry; null when they answer none (so the
    /// follow-up starts a new session with the whole history). A held turn of another key is not found,
    /// and one whose calls are not all answered is an error naming the first missing call.
    /// </summary>
    public (HeldTurn? Turn, string? Missing) Take(IReadOnlyList<ToolResult> results, string? apiKeyId)
    {
        lock (_lock)
        {
            var entry = results.Select(r => _byCallId.GetValueOrDefault(r.CallId)).FirstOrDefault(e => e is not null);
            if (entry is null || entry.ApiKeyId != apiKeyId)
            {
                return (null, null);
            }
            if (entry.Turn.Calls.Calls.FirstOrDefault(c => !results.Any(r => r.CallId == c.Id)) is { } missing)
            {
                return (null, missing.Id);
            }
            Remove(entry);
            entry.Expiry.Cancel();
            return (entry.Turn, null);
        }
    }

    /// <summary>Caller holds the lock.</summary>
    private void Remove(Entry entry)
    {
        foreach (var call in entry.Turn.Calls.Calls)
        {
            if (_byCallId.TryGetValue(call.Id, out var current) && current == entry)
            {
                _byCallId.Remove(call.Id);
            }
        }
    }

    private async Task ExpireAsync(Entry entry, TimeSpan after)
    {
        try
        {
            await Task.Delay(after, entry.Expiry.Token);
        }
        catch (OperationCanceledException)
        {
            entry.Expiry.Dispose();
            return;
        }
        lock (_lock)
        {
            if (!_byCallId.ContainsValue(entry))
            {
                return;
            }
            Remove(entry);
        }
        entry.Expiry.Dispose();
        LogExpired(logger, entry.Turn.Calls.Calls.Count, (int)after.TotalSeconds);
        await EndAsync(entry.Turn, $"The client did not send the result of this call within {(int)after.TotalSeconds} s (toolResultTimeoutSeconds); the turn was ended.");
    }

    /// <summary>Answers the pending calls as failed, then ends the turn (which frees its process or thread).</summary>
    private static async Task EndAsync(HeldTurn turn, string why)
    {
        turn.Calls.Answer([.. turn.Calls.Calls.Select(c => new ToolResult(c.Id, why, IsError: true))]);
        await turn.Run.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        List<Entry> all;
        lock (_lock)
        {
            all = [.. _byCallId.Values.Distinct()];
            _byCallId.Clear();
        }
        foreach (var entry in all)
        {
            await entry.Expiry.CancelAsync();
            await EndAsync(entry.Turn, "The server is shutting down.");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A turn held for {Calls} tool call(s) got no results within {Seconds} s; ended")]
    private static partial void LogExpired(ILogger logger, int calls, int seconds);
}
