namespace CodexApiServer.Providers.Claude;

/// <summary>What we need from one stdout line of `claude -p --output-format stream-json`.</summary>
public sealed record ClaudeLine(ClaudeLineKind Kind)
{
    public string? Text { get; init; }
    public int? ErrorStatus { get; init; }
    public string? Error { get; init; }
    public bool IsError { get; init; }
    public string? Subtype { get; init; }
    public string? StopReason { get; init; }
    public int NumTurns { get; init; }
    public TokenUsage? Usage { get; init; }
    public string? StructuredOutput { get; init; }

    /// <summary>The content block index of a stream event.</summary>
    public int Index { get; init; }

    /// <summary>A tool_use block's id.</summary>
    public string? Id { get; init; }

    /// <summary>A tool's name: with claude's mcp__ prefix in a tool_use block, as declared in a tools/call.</summary>
    public string? Name { get; init; }

    public IReadOnlyList<ClaudeToolUse>? ToolUses { get; init; }

    /// <summary>The control request's id, which its control_response names.</summary>
    public string? RequestId { get; init; }

    /// <summary>The MCP server a control request's message is for.</summary>
    public string? Server { get; init; }

    /// <summary>The JSON-RPC method of an MCP message.</summary>
    public string? Method { get; init; }

    /// <summary>The JSON-RPC id as raw JSON, or null for a notification.</summary>
    public string? RpcId { get; init; }

    public ClaudeRateLimit? RateLimit { get; init; }
}
