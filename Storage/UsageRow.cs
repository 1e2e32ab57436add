namespace CodexApiServer.Storage;

public sealed record UsageRow(
    long CreatedAtMs,
    string RequestId,
    string? ApiKeyId,
    string Endpoint,
    string? Model,
    string? Provider,
    int Status,
    long InputTokens,
    long OutputTokens,
    long CachedTokens,
    long ReasoningTokens,
    long LatencyMs);
