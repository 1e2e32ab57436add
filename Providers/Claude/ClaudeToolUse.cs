namespace CodexApiServer.Providers.Claude;

/// <summary>A tool_use block of an `assistant` line: its id, full name, and input as raw JSON.</summary>
public sealed record ClaudeToolUse(string Id, string Name, string Input);
