namespace CodexApiServer.Providers.Claude;

/// <summary>What a process is started with; idle processes are pooled per key.</summary>
/// <param name="Tools">The <see cref="ToolDefinition.Digest"/> of the client tools it serves, or null for none.</param>
/// <param name="AppendPrompt">
/// claudeSystemPrompt "append": <paramref name="SystemPrompt"/> goes after Claude Code's own system prompt
/// (--append-system-prompt) instead of replacing it.
/// </param>
public readonly record struct ClaudeSessionKey(string Model, string? SystemPrompt, string? Effort, string? Schema, string? Tools = null, bool AppendPrompt = false);
