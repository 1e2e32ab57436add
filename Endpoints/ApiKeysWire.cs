using System.Text.Json.Serialization;
using CodexApiServer.Storage;

namespace CodexApiServer.Endpoints;

public sealed record CreateApiKeyRequest(
    string? Name,
    IReadOnlyList<string>? Scopes,
    long? ExpiresAt,
    int? RequestsPerMinute,
    long? TokensPerDay);

public sealed record ApiKeyObject(
    string Id,
    string Object,
    string Name,
    string Prefix,
    IReadOnlyList<string> Scopes,
    long CreatedAt,
    long? ExpiresAt,
    long? LastUsedAt,
    int? RequestsPerMinute,
    long? TokensPerDay,
    bool Active,
    long? RevokedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Key = null);

public sealed record UpdateApiKeyRequest(
    string? Name,
    IReadOnlyList<string>? Scopes,
    long? ExpiresAt,
    bool? ClearExpiresAt,
    int? RequestsPerMinute,
    long? TokensPerDay,
    bool? Active);

public sealed record ApiKeyUsage(string Object, string ApiKeyId, long Since, IReadOnlyList<UsageTotals> ByModel);

public sealed record ApiKeyList(string Object, IReadOnlyList<ApiKeyObject> Data);
