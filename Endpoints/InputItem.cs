using System.Text.Json.Serialization;

namespace CodexApiServer.Endpoints;

/// <summary>
/// An input item as stored and as listed by GET /v1/responses/{id}/input_items: a message (role,
/// content), a function_call (call_id, name, arguments) or a function_call_output (call_id, output).
/// </summary>
public sealed record InputItem(
    string Id,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<InputContent>? Content,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? CallId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Arguments = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Output = null);
