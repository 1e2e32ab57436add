using System.Buffers;
using System.Text.Json;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// The sdk MCP server (<see cref="ClaudeArgs.ToolServer"/>) that serves the client's tools to claude, as
/// pure functions from its control requests to the stdin lines that answer them.
/// </summary>
/// <remarks>
/// The wire, as the Claude Agent SDK speaks it (claude-agent-sdk-python, _internal/query.py) and as
/// claude 2.1.331 does: claude writes
/// `{"type":"control_request","request_id":R,"request":{"subtype":"mcp_message","server_name":S,"message":{JSON-RPC}}}`
/// and waits for `{"type":"control_response","response":{"subtype":"success","request_id":R,"response":{"mcp_response":{JSON-RPC}}}}`.
/// It connects at start-up, before any user message (initialize, notifications/initialized, tools/list),
/// so a spare answers these on its own (ClaudeProcess). Every message gets a control_response, a
/// notification too (an empty JSON-RPC result, as the SDK sends): without one claude waits forever.
/// No `initialize` control request of ours is needed for the server to connect.
/// </remarks>
public static class ClaudeToolServer
{
    /// <summary>The MCP version we answer initialize with (the one the Agent SDK answers).</summary>
    internal const string ProtocolVersion = "2024-11-05";

    /// <summary>The answer to a control request other than tools/call (<see cref="ClaudeLineKind.McpRequest"/> or <see cref="ClaudeLineKind.ControlRequest"/>).</summary>
    public static byte[] Answer(ClaudeLine request, IReadOnlyList<ToolDefinition> tools)
    {
        if (request.Kind != ClaudeLineKind.McpRequest)
        {
            return ControlError(request.RequestId ?? "", $"unsupported control request {request.Subtype}");
        }
        if (request.RpcId is null)
        {
            return McpReply(request, w => w.WriteStartObject("result"), notification: true);
        }
        if (request.Server != ClaudeArgs.ToolServer)
        {
            return McpError(request, -32601, $"Server '{request.Server}' not found");
        }
        return request.Method switch
        {
            "initialize" => McpReply(request, w =>
            {
                w.WriteStartObject("result");
                w.WriteString("protocolVersion", ProtocolVersion);
                w.WriteStartObject("capabilities");
                w.WriteStartObject("tools");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartObject("serverInfo");
                w.WriteString("name", ClaudeArgs.ToolServer);
                w.WriteString("version", "1.0.0");
                w.WriteEndObject();
            }),
            "tools/list" => McpReply(request, w =>
            {
                w.WriteStartObject("result");
                w.WriteStartArray("tools");
                foreach (var tool in tools)
                {
                    w.WriteStartObject();
                    w.WriteString("name", tool.Name);
                    if (tool.Description is not null)
                    {
                        w.WriteString("description", tool.Description);
                    }
                    w.WritePropertyName("inputSchema");
                    tool.Parameters.WriteTo(w);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }),
            "ping" => McpReply(request, w => w.WriteStartObject("result")),
            _ => McpError(request, -32601, $"Method '{request.Method}' not found"),
        };
    }

    /// <summary>The answer to a tools/call (<see cref="ClaudeLineKind.ToolCallRequest"/>): the client's output as text, a failure marked isError.</summary>
    public static byte[] CallResult(ClaudeLine call, string output, bool isError) => McpReply(call, w =>
    {
        w.WriteStartObject("result");
        w.WriteStartArray("content");
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", output);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteBoolean("isError", isError);
    });

    /// <param name="result">Writes the JSON-RPC result (or error) member: opens it, the caller's content, and it is closed here.</param>
    private static byte[] McpReply(ClaudeLine request, Action<Utf8JsonWriter> result, bool notification = false) => Line(w =>
    {
        w.WriteString("type", "control_response");
        w.WriteStartObject("response");
        w.WriteString("subtype", "success");
        w.WriteString("request_id", request.RequestId);
        w.WriteStartObject("response");
        w.WriteStartObject("mcp_response");
        w.WriteString("jsonrpc", "2.0");
        if (!notification)
        {
            w.WritePropertyName("id");
            w.WriteRawValue(request.RpcId!, skipInputValidation: true);
        }
        result(w);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    });

    private static byte[] McpError(ClaudeLine request, int code, string message) => McpReply(request, w =>
    {
        w.WriteStartObject("error");
        w.WriteNumber("code", code);
        w.WriteString("message", message);
    });

    private static byte[] ControlError(string requestId, string message) => Line(w =>
    {
        w.WriteString("type", "control_response");
        w.WriteStartObject("response");
        w.WriteString("subtype", "error");
        w.WriteString("request_id", requestId);
        w.WriteString("error", message);
        w.WriteEndObject();
    });

    private static byte[] Line(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }
}
