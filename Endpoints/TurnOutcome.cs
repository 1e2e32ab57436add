using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>How a driven turn ended, for the endpoint to answer with.</summary>
/// <param name="Error">What a failed turn tells the caller; null unless <see cref="TurnEnded.Reason"/> is Failed.</param>
/// <param name="Streamed">The answer went out as a stream (the response is already written).</param>
/// <param name="Held">The model called the client's tools (End.Reason is ToolCalls): the turn waits for the results; the endpoint hands it to <see cref="HeldTurns"/>.</param>
public sealed record TurnOutcome(TurnEnded End, ApiError? Error, bool Streamed, HeldTurn? Held = null);
