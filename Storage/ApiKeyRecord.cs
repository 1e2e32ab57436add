namespace CodexApiServer.Storage;

public sealed record ApiKeyRecord(
    string Id,
    string Name,
    string Prefix,
    IReadOnlyList<string> Scopes,
    long CreatedAt,
    long? ExpiresAt,
    long? LastUsedAt,
    int? RequestsPerMinute,
    long? TokensPerDay,
    bool Active,
    long? RevokedAt);
