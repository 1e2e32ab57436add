namespace CodexApiServer.Providers.Claude;

/// <summary>The kinds of stdout line ClaudeProtocol.Parse tells apart; ClaudeProcess drops Other lines.</summary>
public enum ClaudeLineKind
{
    Other,
    TextDelta,
    ThinkingDelta,
    StreamEvent,
    ApiRetry,
    Result,

    /// <summary>A tool_use block starts streaming (stream event content_block_start): Index, Id, Name.</summary>
    ToolUseStart,

    /// <summary>A piece of a tool_use block's input JSON (input_json_delta): Index, Text.</summary>
    ToolInputDelta,

    /// <summary>The model's message (one model step) is complete (stream event message_stop).</summary>
    MessageStop,

    /// <summary>An `assistant` line holding tool_use blocks (<see cref="ClaudeLine.ToolUses"/>).</summary>
    AssistantToolUse,

    /// <summary>A control request with an MCP message for an sdk server, other than tools/call: RequestId, Server, Method, RpcId.</summary>
    McpRequest,

    /// <summary>An MCP tools/call for an sdk server: RequestId, Server, RpcId, Name (the tool), Id (the tool_use id, when claude gives it), Text (the arguments).</summary>
    ToolCallRequest,

    /// <summary>Any other control request claude asks of us (RequestId, Subtype): answered with an error.</summary>
    ControlRequest,

    /// <summary>claude's answer to a control request of ours (RequestId, Subtype, IsError, Error).</summary>
    ControlResponse,

    /// <summary>A rate_limit_event: the subscription's usage windows (<see cref="ClaudeLine.RateLimit"/>).</summary>
    RateLimit,
}
