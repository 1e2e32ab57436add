using System.Text;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>
/// stream-json lines (as the real claude CLI and fake-claude.mjs write them) to turn events, without a process.
/// </summary>
public sealed class ClaudeTurnDecoderTests
{
    private const string SessionId = "3f2c8a4e-1b7d-4c9e-a5f6-0d1e2f3a4b5c";

    private const string Usage = """{"input_tokens":10,"cache_creation_input_tokens":4,"cache_read_input_tokens":2,"output_tokens":5,"output_tokens_details":{"thinking_tokens":3}}""";

    private static ClaudeLine Line(string json) => ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(json))!;

    private static IReadOnlyList<TurnEvent> Decode(ClaudeTurnDecoder decoder, string json) => decoder.Decode(Line(json));

    private static ClaudeTurnDecoder Decoder(bool firstTurnOfResume = false, bool structured = false) => new(SessionId, firstTurnOfResume, structured);

    private static string Delta(string type, string field, string text) =>
        $$$"""{"type":"stream_event","event":{"type":"content_block_delta","index":1,"delta":{"type":"{{{type}}}","{{{field}}}":"{{{text}}}"}},"session_id":"{{{SessionId}}}"}""";

    private static string Result(string stopReason = "end_turn", string result = "Hello") =>
        $$$"""{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"result":"{{{result}}}","stop_reason":"{{{stopReason}}}","num_turns":1,"session_id":"{{{SessionId}}}","usage":{{{Usage}}},"modelUsage":{}}""";

    [Fact]
    public void A_text_delta_is_a_TextDelta_and_a_thinking_delta_a_ReasoningDelta()
    {
        var decoder = Decoder();
        Assert.Equal([new TextDelta("Hello")], Decode(decoder, Delta("text_delta", "text", "Hello")));
        Assert.Equal([new ReasoningDelta("Let me think.")], Decode(decoder, Delta("thinking_delta", "thinking", "Let me think.")));
    }

    [Fact]
    public void A_successful_result_reports_usage_then_completes_the_session()
    {
        var events = Decode(Decoder(), Result());
        Assert.Equal<TurnEvent>([new TurnEnded(TurnEndReason.Stop, SessionId, new TokenUsage(16, 5, 2, 3))], events);
    }

    [Fact]
    public void Max_tokens_finishes_with_length()
    {
        var done = Assert.IsType<TurnEnded>(Decode(Decoder(), Result("max_tokens"))[^1]);
        Assert.Equal(TurnEndReason.Length, done.Reason);
    }

    [Fact]
    public void Other_lines_are_activity_and_unknown_types_are_dropped_before_decoding()
    {
        var decoder = Decoder();
        Assert.Equal([CliActivity.Instance], Decode(decoder, $$$"""{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_1","role":"assistant","content":[]}},"session_id":"{{{SessionId}}}"}"""));
        Assert.Equal([CliActivity.Instance], Decode(decoder, Delta("text_delta", "text", "")));
        Assert.Equal([CliActivity.Instance], Decode(decoder, $$$"""{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":100,"error_status":529,"error":"overloaded","session_id":"{{{SessionId}}}"}"""));
        // ClaudeProcess passes no Other line on: an assistant summary or init line is not an event.
        Assert.Equal(ClaudeLineKind.Other, Line($$$"""{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Hello"}]},"session_id":"{{{SessionId}}}"}""").Kind);
        Assert.Equal(ClaudeLineKind.Other, Line($$$"""{"type":"system","subtype":"init","session_id":"{{{SessionId}}}","tools":[],"model":"claude-sonnet-4-5"}""").Kind);
    }

    [Theory]
    [InlineData("""{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":600,"error_status":401,"error":"authentication_failed"}""")]
    [InlineData("""{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":600,"error_status":null,"error":"authentication_failed"}""")]
    public void A_retry_on_a_bad_login_fails_at_once(string json)
    {
        var failed = TurnEvents.Failure(Assert.Single(Decode(Decoder(), json)));
        Assert.Equal(ProviderErrorKind.NotAuthenticated, failed.Kind);
        Assert.NotNull(failed.Hint);
    }

    [Theory]
    [InlineData(500, "API Error: 500 boom", ProviderErrorKind.Upstream)]
    [InlineData(401, "API Error: 401 invalid x-api-key", ProviderErrorKind.NotAuthenticated)]
    [InlineData(null, "Not logged in · Please run /login", ProviderErrorKind.NotAuthenticated)]
    [InlineData(null, "Invalid API key · Fix external API key", ProviderErrorKind.NotAuthenticated)]
    [InlineData(400, "Prompt is too long", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData(413, "prompt is too long: 250000 tokens > 200000 maximum", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData(400, "messages: text content blocks must be non-empty", ProviderErrorKind.InvalidRequest)]
    public void An_error_result_fails_with_its_classified_kind(int? status, string message, ProviderErrorKind kind)
    {
        var json = $$$"""{"type":"result","subtype":"success","is_error":true,"api_error_status":{{{(status is null ? "null" : status.ToString())}}},"result":"{{{message}}}","stop_reason":null,"num_turns":1,"session_id":"{{{SessionId}}}","usage":{{{Usage}}}}""";
        var failed = TurnEvents.Failure(Assert.Single(Decode(Decoder(), json)));
        Assert.Equal(kind, failed.Kind);
        Assert.Equal(message, failed.Message);
    }

    [Fact]
    public void An_error_result_without_text_names_its_subtype()
    {
        var failed = TurnEvents.Failure(Assert.Single(Decode(Decoder(), """{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":3}""")));
        Assert.Equal("Claude Code failed (error_max_turns)", failed.Message);
        Assert.Equal(ProviderErrorKind.Upstream, failed.Kind);
    }

    [Fact]
    public void A_resume_that_fails_before_any_output_is_a_session_not_found()
    {
        const string NoConversation = $$$"""{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,"session_id":"{{{SessionId}}}","usage":{"input_tokens":0,"output_tokens":0}}""";
        var failed = TurnEvents.Failure(Assert.Single(Decode(Decoder(firstTurnOfResume: true), NoConversation)));
        Assert.Equal(ProviderErrorKind.SessionNotFound, failed.Kind);
        Assert.Contains(SessionId, failed.Message, StringComparison.Ordinal);
        // Not on a process's first turn after a resume: an ordinary failure.
        Assert.Equal(ProviderErrorKind.Upstream, TurnEvents.Failure(Assert.Single(Decode(Decoder(), NoConversation))).Kind);
    }

    [Fact]
    public void Stdout_ending_early_is_a_crash_or_on_a_resume_without_output_an_unknown_session()
    {
        Assert.Equal(ProviderErrorKind.Crashed, Decoder().EndedEarly().Kind);
        Assert.Equal(ProviderErrorKind.SessionNotFound, Decoder(firstTurnOfResume: true).EndedEarly().Kind);
        var talked = Decoder(firstTurnOfResume: true);
        Decode(talked, Delta("text_delta", "text", "Hi"));
        Assert.Equal(ProviderErrorKind.Crashed, talked.EndedEarly().Kind);
    }

    [Fact]
    public void With_a_schema_text_is_held_back_and_the_structured_output_is_the_answer()
    {
        var decoder = Decoder(structured: true);
        Assert.Empty(Decode(decoder, Delta("text_delta", "text", "Here you go:")));
        var events = Decode(decoder, $$$"""{"type":"result","subtype":"success","is_error":false,"result":"","stop_reason":"end_turn","num_turns":2,"structured_output":{"answer":42},"usage":{{{Usage}}}}""");
        Assert.Equal<TurnEvent>([new TextDelta("""{"answer":42}"""), new TurnEnded(TurnEndReason.Stop, SessionId, new TokenUsage(16, 5, 2, 3))], events);
    }

    [Fact]
    public void With_a_schema_but_no_structured_output_the_held_text_is_the_answer()
    {
        var decoder = Decoder(structured: true);
        Decode(decoder, Delta("text_delta", "text", """{\"answer\":"""));
        Decode(decoder, Delta("text_delta", "text", "42}"));
        var events = Decode(decoder, Result());
        Assert.Equal(new TextDelta("""{"answer":42}"""), events[0]);
        Assert.IsType<TurnEnded>(events[^1]);
    }

    [Fact]
    public void Structured_output_is_not_repeated_after_streamed_text()
    {
        var decoder = Decoder();
        Decode(decoder, Delta("text_delta", "text", "{}"));
        var events = Decode(decoder, """{"type":"result","subtype":"success","is_error":false,"result":"{}","stop_reason":"end_turn","num_turns":1,"structured_output":{}}""");
        Assert.Equal<TurnEvent>([new TurnEnded(TurnEndReason.Stop, SessionId)], events);
    }

    private static string ToolUseStart(int index, string id, string name) =>
        """{"type":"stream_event","event":{"type":"content_block_start","index":""" + index
        + ""","content_block":{"type":"tool_use","id":""" + Quote(id) + ""","name":""" + Quote(name) + ""","input":{}}}}""";

    private static string InputDelta(int index, string json) =>
        """{"type":"stream_event","event":{"type":"content_block_delta","index":""" + index
        + ""","delta":{"type":"input_json_delta","partial_json":""" + Quote(json) + "}}}";

    private const string MessageStop = """{"type":"stream_event","event":{"type":"message_stop"}}""";

    private static string ToolsCall(string requestId, int rpcId, string name, string? toolUseId) =>
        """{"type":"control_request","request_id":""" + Quote(requestId)
        + ""","request":{"subtype":"mcp_message","server_name":"client","message":{"method":"tools/call","params":{"name":""" + Quote(name)
        + ""","arguments":{}""" + (toolUseId is null ? "" : ""","_meta":{"claudecode/toolUseId":""" + Quote(toolUseId) + "}")
        + """},"jsonrpc":"2.0","id":""" + rpcId + "}}}";

    private static string Quote(string text) => System.Text.Json.Nodes.JsonValue.Create(text).ToJsonString();

    private static (string RequestId, string Text, bool IsError) Reply(byte[] line)
    {
        var response = System.Text.Json.Nodes.JsonNode.Parse(line)!["response"]!;
        var result = response["response"]!["mcp_response"]!["result"]!;
        return (response["request_id"]!.GetValue<string>(), result["content"]![0]!["text"]!.GetValue<string>(), result["isError"]!.GetValue<bool>());
    }

    [Fact]
    public void The_tool_uses_of_one_model_message_are_asked_together_when_it_ends()
    {
        var decoder = Decoder();
        Assert.Equal([new TextDelta("Let me check.")], Decode(decoder, Delta("text_delta", "text", "Let me check.")));
        Decode(decoder, ToolUseStart(1, "toolu_a", "mcp__client__get_weather"));
        Decode(decoder, InputDelta(1, """{"ci"""));
        Decode(decoder, InputDelta(1, """ty": "Paris"}"""));
        // claude calls the first tool as soon as its block is complete, before the message is.
        Assert.Equal([CliActivity.Instance], Decode(decoder, ToolsCall("r1", 2, "get_weather", "toolu_a")));
        Decode(decoder, ToolUseStart(2, "toolu_b", "mcp__client__get_time"));
        Decode(decoder, ToolUseStart(3, "toolu_other", "mcp__someone__else"));
        Assert.Empty(decoder.TakeReplies());

        var request = Assert.IsType<ToolCallsRequested>(Assert.Single(Decode(decoder, MessageStop)));

        Assert.Equal(["get_weather", "get_time"], request.Calls.Select(c => c.Name));
        Assert.Equal(["""{"city": "Paris"}""", "{}"], request.Calls.Select(c => c.Arguments));
        Assert.Empty(decoder.TakeReplies());
        decoder.Answer(request, [new ToolResult(request.Calls[1].Id, "noon"), new ToolResult(request.Calls[0].Id, "rain")]);
        Assert.Equal([("r1", "rain", false)], decoder.TakeReplies().Select(Reply));
        // The next call comes only once the first was answered: answered at once.
        Decode(decoder, ToolsCall("r2", 3, "get_time", "toolu_b"));
        Assert.Equal([("r2", "noon", false)], decoder.TakeReplies().Select(Reply));
        Assert.Equal(TurnEndReason.Stop, Assert.IsType<TurnEnded>(Decode(decoder, Result())[^1]).Reason);
    }

    [Fact]
    public void Without_a_tool_use_id_calls_are_matched_by_name_in_order_and_a_stray_one_fails()
    {
        var decoder = Decoder();
        Decode(decoder, """{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"mcp__client__f","input":{"n":1}},{"type":"tool_use","id":"t2","name":"mcp__client__f","input":{"n":2}}]}}""");
        var request = Assert.IsType<ToolCallsRequested>(Assert.Single(Decode(decoder, MessageStop)));
        Assert.Equal(["""{"n":1}""", """{"n":2}"""], request.Calls.Select(c => c.Arguments));
        Decode(decoder, ToolsCall("r1", 1, "f", null));
        Decode(decoder, ToolsCall("r9", 9, "g", null));

        decoder.Answer(request, [new ToolResult(request.Calls[0].Id, "one"), new ToolResult(request.Calls[1].Id, "bad", IsError: true)]);
        var replies = decoder.TakeReplies().Select(Reply).ToList();
        Assert.Equal(("r1", "one", false), replies[0]);
        Assert.Equal("r9", replies[1].RequestId);
        Assert.True(replies[1].IsError);
        Decode(decoder, ToolsCall("r2", 2, "f", null));
        Assert.Equal([("r2", "bad", true)], decoder.TakeReplies().Select(Reply));
    }

    [Fact]
    public void A_call_without_a_result_is_answered_as_failed_and_a_message_without_tools_asks_nothing()
    {
        var decoder = Decoder();
        Assert.Equal([CliActivity.Instance], Decode(decoder, MessageStop));
        Decode(decoder, ToolUseStart(0, "t1", "mcp__client__f"));
        var request = Assert.IsType<ToolCallsRequested>(Assert.Single(Decode(decoder, MessageStop)));
        decoder.Answer(request, []);
        Decode(decoder, ToolsCall("r1", 1, "f", "t1"));
        Assert.Equal([("r1", "The client sent no result for this call.", true)], decoder.TakeReplies().Select(Reply));
    }
}
