namespace CodexApiServer.Storage;

public sealed record KeyTotals(string? ApiKeyId, string Name, long Requests, long Errors, long InputTokens, long OutputTokens);
