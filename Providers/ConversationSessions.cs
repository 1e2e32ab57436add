namespace CodexApiServer.Providers;

/// <summary>
/// Live provider sessions of stateless chat conversations, keyed by a digest of the conversation
/// so far (model, instructions, messages up to the last assistant answer). A request whose history
/// matches a key continues that session with only its new messages. A session is taken out when it
/// is used, so two requests never continue one session at once; the oldest are ended past the cap.
/// </summary>
public sealed class ConversationSessions
{
    private const int Capacity = 512;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _order = new();

    private sealed record Entry(string Key, ITurnProvider Provider, string SessionId);

    /// <summary>The session for this conversation, removed from the table, or null.</summary>
    public string? Take(string key, ITurnProvider provider)
    {
        lock (_lock)
        {
            if (!_byKey.Remove(key, out var node))
            {
                return null;
            }
            _order.Remove(node);
            return ReferenceEquals(node.Value.Provider, provider) ? node.Value.SessionId : null;
        }
    }

    public void Put(string key, ITurnProvider provider, string sessionId)
    {
        var evicted = new List<Entry>();
        lock (_lock)
        {
            if (_byKey.Remove(key, out var old))
            {
                _order.Remove(old);
                if (old.Value.SessionId != sessionId)
                {
                    evicted.Add(old.Value);
                }
            }
            _byKey[key] = _order.AddLast(new Entry(key, provider, sessionId));
            while (_order.Count > Capacity)
            {
                var first = _order.First!;
                _order.RemoveFirst();
                _byKey.Remove(first.Value.Key);
                evicted.Add(first.Value);
            }
        }
        foreach (var entry in evicted)
        {
            _ = EndQuietlyAsync(entry);
        }
    }

    private static async Task EndQuietlyAsync(Entry entry)
    {
        try
        {
            await entry.Provider.EndSessionAsync(entry.SessionId);
        }
        catch (Exception)
        {
            // Ending a session is housekeeping; the provider reaps what it cannot end.
        }
    }
}
