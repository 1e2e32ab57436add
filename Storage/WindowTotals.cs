namespace CodexApiServer.Storage;

public sealed record WindowTotals(string Window, long Requests, long Errors, long InputTokens, long OutputTokens);

public sealed record ProviderLatency(string Provider, long Requests, long P50Ms, long P95Ms);
