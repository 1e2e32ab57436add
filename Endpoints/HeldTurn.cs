using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// A turn whose model called the client's tools: the CLI waits for the results, which the client's
/// follow-up brings (matched by call id in <see cref="HeldTurns"/>); then the same turn goes on.
/// </summary>
/// <param name="Calls">What the client was asked; answering it resumes the turn.</param>
public sealed record HeldTurn(TurnRun Run, ToolCallsRequested Calls, RoutedModel Route);
