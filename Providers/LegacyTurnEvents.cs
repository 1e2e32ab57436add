namespace CodexApiServer.Providers;

// TEMPORARY while the providers move (split-codex, split-claude): TurnRun reads these as TurnEnded.

public sealed record TurnCompleted(string FinishReason, string? SessionId) : TurnEvent;

public sealed record TurnFailed(ProviderError Error) : TurnEvent;
