namespace CodexApiServer.Providers;

/// <summary>What the client answered for one <see cref="ToolCall"/>.</summary>
/// <param name="IsError">The call failed (the client said so, or it never answered): the model is told it failed.</param>
public sealed record ToolResult(string CallId, string Output, bool IsError = false);
