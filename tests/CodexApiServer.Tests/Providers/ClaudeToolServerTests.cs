using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Tests.Providers;

/// <summary>
/// The control requests claude 2.1.331 writes for an sdk MCP server (lines as captured from it) and the
/// stdin lines that answer them, without a process.
/// </summary>
public sealed class ClaudeToolServerTests
{
    private const string Initialize = """{"type":"control_request","request_id":"51fcb7e3-8a1e","request":{"subtype":"mcp_message","server_name":"client","message":{"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"claude-code","version":"2.1.331"}},"jsonrpc":"2.0","id":0}}}""";
    private const string Initialized = """{"type":"control_request","request_id":"c59df72e","request":{"subtype":"mcp_message","server_name":"client","message":{"jsonrpc":"2.0","method":"notifications/initialized"}}}""";
    private const string ToolsList = """{"type":"control_request","request_id":"27ffa6e5","request":{"subtype":"mcp_message","server_name":"client","message":{"method":"tools/list","jsonrpc":"2.0","id":1}}}""";
    private const string ToolsCall = """{"type":"control_request","request_id":"8c22a26a","request":{"subtype":"mcp_message","server_name":"client","message":{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris0"},"_meta":{"claudecode/toolUseId":"toolu_1_0","progressToken":2}},"jsonrpc":"2.0","id":2}}}""";

    private static readonly ToolDefinition[] Tools =
    [
        new("get_weather", "Weather in a city.", JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""").RootElement.Clone()),
        new("no-description", null, JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone()),
    ];

    private static ClaudeLine Line(string json) => ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(json))!;

    private static JsonNode Answer(string request) => Json(ClaudeToolServer.Answer(Line(request), Tools));

    private static JsonNode Json(byte[] line)
    {
        Assert.Equal((byte)'\n', line[^1]);
        Assert.DoesNotContain((byte)'\n', line[..^1]);
        return JsonNode.Parse(line)!;
    }

    private static JsonNode Mcp(JsonNode reply, string requestId)
    {
        Assert.Equal("control_response", reply["type"]!.GetValue<string>());
        Assert.Equal("success", reply["response"]!["subtype"]!.GetValue<string>());
        Assert.Equal(requestId, reply["response"]!["request_id"]!.GetValue<string>());
        var mcp = reply["response"]!["response"]!["mcp_response"]!;
        Assert.Equal("2.0", mcp["jsonrpc"]!.GetValue<string>());
        return mcp;
    }

    [Fact]
    public void Control_requests_parse_to_mcp_requests_and_tool_calls()
    {
        var init = Line(Initialize);
        Assert.Equal((ClaudeLineKind.McpRequest, "51fcb7e3-8a1e", "client", "initialize", "0"), (init.Kind, init.RequestId, init.Server, init.Method, init.RpcId));
        var notification = Line(Initialized);
        Assert.Equal((ClaudeLineKind.McpRequest, "notifications/initialized", null), (notification.Kind, notification.Method, notification.RpcId));
        var call = Line(ToolsCall);
        Assert.Equal((ClaudeLineKind.ToolCallRequest, "8c22a26a", "2", "get_weather", "toolu_1_0", """{"city":"Paris0"}"""), (call.Kind, call.RequestId, call.RpcId, call.Name, call.Id, call.Text));
        var permission = Line("""{"type":"control_request","request_id":"r9","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{}}}""");
        Assert.Equal((ClaudeLineKind.ControlRequest, "can_use_tool"), (permission.Kind, permission.Subtype));
    }

    [Fact]
    public void Tool_use_stream_events_and_assistant_lines_parse_to_their_blocks()
    {
        var start = Line("""{"type":"stream_event","event":{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"mcp__client__get_weather","input":{}}}}""");
        Assert.Equal((ClaudeLineKind.ToolUseStart, 2, "toolu_1", "mcp__client__get_weather"), (start.Kind, start.Index, start.Id, start.Name));
        var delta = Line("""{"type":"stream_event","event":{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"ci"}}}""");
        Assert.Equal((ClaudeLineKind.ToolInputDelta, 2, "{\"ci"), (delta.Kind, delta.Index, delta.Text));
        Assert.Equal(ClaudeLineKind.MessageStop, Line("""{"type":"stream_event","event":{"type":"message_stop"}}""").Kind);
        Assert.Equal(ClaudeLineKind.StreamEvent, Line("""{"type":"stream_event","event":{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}}""").Kind);
        var assistant = Line("""{"type":"assistant","message":{"content":[{"type":"tool_use","id":"toolu_2","name":"mcp__client__get_time","input":{"zone":"CET"}}]}}""");
        Assert.Equal(ClaudeLineKind.AssistantToolUse, assistant.Kind);
        Assert.Equal([new ClaudeToolUse("toolu_2", "mcp__client__get_time", """{"zone":"CET"}""")], assistant.ToolUses!);
        Assert.Equal(ClaudeLineKind.Other, Line("""{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}""").Kind);
    }

    [Fact]
    public void Initialize_is_answered_with_the_tools_capability()
    {
        var mcp = Mcp(Answer(Initialize), "51fcb7e3-8a1e");
        Assert.Equal(0, mcp["id"]!.GetValue<int>());
        Assert.Equal("2024-11-05", mcp["result"]!["protocolVersion"]!.GetValue<string>());
        Assert.NotNull(mcp["result"]!["capabilities"]!["tools"]);
        Assert.Equal("client", mcp["result"]!["serverInfo"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void A_notification_still_gets_a_control_response_but_no_json_rpc_id()
    {
        // claude waits for the control_response of every message it sends, a notification too.
        var mcp = Mcp(Answer(Initialized), "c59df72e");
        Assert.Null(mcp["id"]);
        Assert.Equal("{}", mcp["result"]!.ToJsonString());
    }

    [Fact]
    public void Tools_list_gives_the_tools_as_declared_with_their_schemas()
    {
        var tools = Mcp(Answer(ToolsList), "27ffa6e5")["result"]!["tools"]!.AsArray();
        Assert.Equal(["get_weather", "no-description"], tools.Select(t => t!["name"]!.GetValue<string>()));
        Assert.Equal(Tools[0].Parameters.GetRawText(), tools[0]!["inputSchema"]!.ToJsonString());
        Assert.Equal("Weather in a city.", tools[0]!["description"]!.GetValue<string>());
        Assert.Null(tools[1]!["description"]);
    }

    [Fact]
    public void Ping_is_answered_and_anything_else_is_an_error()
    {
        Assert.Equal("{}", Mcp(Answer("""{"type":"control_request","request_id":"p","request":{"subtype":"mcp_message","server_name":"client","message":{"jsonrpc":"2.0","id":"x7","method":"ping"}}}"""), "p")["result"]!.ToJsonString());
        var unknown = Mcp(Answer("""{"type":"control_request","request_id":"u","request":{"subtype":"mcp_message","server_name":"client","message":{"jsonrpc":"2.0","id":5,"method":"resources/list"}}}"""), "u");
        Assert.Equal(5, unknown["id"]!.GetValue<int>());
        Assert.Equal(-32601, unknown["error"]!["code"]!.GetValue<int>());
        var otherServer = Mcp(Answer("""{"type":"control_request","request_id":"o","request":{"subtype":"mcp_message","server_name":"other","message":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}}"""), "o");
        Assert.Equal(-32601, otherServer["error"]!["code"]!.GetValue<int>());
        var permission = Answer("""{"type":"control_request","request_id":"r9","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{}}}""");
        Assert.Equal("error", permission["response"]!["subtype"]!.GetValue<string>());
        Assert.Equal("r9", permission["response"]!["request_id"]!.GetValue<string>());
    }

    [Fact]
    public void A_tool_call_is_answered_with_the_output_as_text_and_its_error_flag()
    {
        var mcp = Mcp(Json(ClaudeToolServer.CallResult(Line(ToolsCall), "sunny \"21\" °C", isError: true)), "8c22a26a");
        Assert.Equal(2, mcp["id"]!.GetValue<int>());
        Assert.Equal("""{"content":[{"type":"text","text":"sunny \"21\" °C"}],"isError":true}""", mcp["result"]!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    [Fact]
    public void The_tool_instruction_is_the_last_block_and_earlier_tool_calls_are_text_in_the_transcript()
    {
        var line = JsonNode.Parse(ClaudeProtocol.UserLine(
        [
            TurnMessage.User("Weather?"),
            new TurnMessage("assistant", [new TextPart("Checking."), new ToolCallPart("call_1", "get_weather", """{"city":"Paris"}""")]),
            new TurnMessage("tool", [new ToolResultPart("call_1", "21C")]),
            new TurnMessage("tool", [new ToolResultPart("call_2", "boom", IsError: true)]),
        ], "[tool instructions: Call at most one tool at a time.]"))!;
        var content = line["message"]!["content"]!.AsArray().Select(b => b!["text"]!.GetValue<string>()).ToList();
        Assert.Contains("[assistant]: Checking.[called tool get_weather (call call_1) with arguments {\"city\":\"Paris\"}]", content[0], StringComparison.Ordinal);
        Assert.Contains("[tool]: [result of tool call call_1] 21C", content[0], StringComparison.Ordinal);
        Assert.Equal(["[tool call call_2 failed] boom", "[tool instructions: Call at most one tool at a time.]"], content[1..]);
        Assert.DoesNotContain("tool_use", line.ToJsonString(), StringComparison.Ordinal);
    }
}
