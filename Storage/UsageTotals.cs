namespace CodexApiServer.Storage;

public sealed record UsageTotals(string Model, long Requests, long Errors, long InputTokens, long OutputTokens, long CachedTokens, long ReasoningTokens, long AverageLatencyMs);
