using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>A Responses request checked and parsed: what goes to the provider and what the response echoes.</summary>
internal sealed record ParsedRequest(
    string Model,
    string? Instructions,
    List<TurnMessage> Messages,
    List<InputItem> Items,
    string? Effort,
    string? Summary,
    JsonElement? Schema,
    JsonElement Format,
    Dictionary<string, string> Metadata,
    ResponsesRequest Body,
    List<ToolDefinition>? Tools,
    ToolChoice? ToolChoice);
