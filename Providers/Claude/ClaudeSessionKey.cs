namespace CodexApiServer.Providers.Claude;

/// <summary>What a process is started with; idle processes are pooled per key.</summary>
public readonly record struct ClaudeSessionKey(string Model, string? SystemPrompt, string? Effort, string? Schema);
