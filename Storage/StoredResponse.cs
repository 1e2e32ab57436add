namespace CodexApiServer.Storage;

/// <param name="Object">'response' or 'chat.completion'.</param>
/// <param name="InputJson">The input items of this turn, as a JSON array.</param>
/// <param name="BodyJson">The whole object as served.</param>
/// <param name="RequestId">The request that made it (its usage row has the latency); null for rows older than that column.</param>
public sealed record StoredResponse(
    string Id,
    string Object,
    long CreatedAt,
    string Status,
    string Model,
    string Provider,
    string? ApiKeyId,
    string? PreviousResponseId,
    string? SessionId,
    string InputJson,
    string BodyJson,
    string? RequestId = null);
