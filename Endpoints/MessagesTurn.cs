using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>A Messages request checked: what goes to the provider and what decides the reply.</summary>
/// <param name="Results">The tool results of the last user message, in order: what a held turn waits for.</param>
internal sealed record MessagesTurn(
    string Model,
    string? Instructions,
    List<TurnMessage> Conversation,
    string? ReasoningEffort,
    List<ToolDefinition>? Tools,
    ToolChoice? ToolChoice,
    bool ParallelToolCalls,
    bool Stream,
    List<ToolResult> Results);
