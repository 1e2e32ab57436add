using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>How a driven turn ended, for the endpoint to answer with.</summary>
/// <param name="Error">What a failed turn tells the caller; null unless <see cref="TurnEnded.Reason"/> is Failed.</param>
/// <param name="Streamed">The answer went out as a stream (the response is already written).</param>
public sealed record TurnOutcome(TurnEnded End, ApiError? Error, bool Streamed);
