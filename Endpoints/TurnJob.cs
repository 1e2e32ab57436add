using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>A turn ready to run: its provider, what to send, and how to answer.</summary>
/// <param name="Replay">The whole history in a fresh session, used once if <see cref="TurnRequest.SessionId"/>'s session is gone.</param>
/// <param name="Stream">Answer as server-sent events.</param>
public sealed record TurnJob(RoutedModel Route, TurnRequest Request, TurnRequest? Replay, bool Stream);
