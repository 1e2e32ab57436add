namespace CodexApiServer.Endpoints;

/// <summary>An input item as stored and as listed by GET /v1/responses/{id}/input_items.</summary>
public sealed record InputItem(string Id, string Type, string Role, IReadOnlyList<InputContent> Content, string Status);
