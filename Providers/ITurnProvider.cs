namespace CodexApiServer.Providers;

public interface ITurnProvider
{
    ProviderKind Kind { get; }

    /// <summary>
    /// Runs one turn. Yields deltas and usage, then exactly one <see cref="TurnEnded"/> (Stop, Length
    /// or Failed). Cancelling the token stops the model upstream (interrupts the turn). Does not throw
    /// for provider failures; they arrive as <see cref="TurnEnded.Failed"/>.
    /// </summary>
    IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, CancellationToken cancellationToken);

    /// <summary>Forgets a session and frees what it holds (process, thread, scratch directory).</summary>
    ValueTask EndSessionAsync(string sessionId);

    /// <summary>Ends the session and removes the CLI's own transcript of it: the conversation's owner deleted it.</summary>
    ValueTask DeleteSessionAsync(string sessionId) => EndSessionAsync(sessionId);
}
