using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>The parsed request: what goes to the provider and what decides the reply.</summary>
internal sealed record ChatTurn(string Model, string? Instructions, List<TurnMessage> Conversation, string? ReasoningEffort, JsonElement? OutputSchema, bool Stream, bool IncludeUsage, bool Store,
    List<ToolDefinition>? Tools, ToolChoice? ToolChoice, bool ParallelToolCalls);
