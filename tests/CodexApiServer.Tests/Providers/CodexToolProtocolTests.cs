using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;

using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>Client tools in what the Codex provider writes (thread/start, turn/start, thread/inject_items) and reads (a model step's calls): no process.</summary>
public sealed class CodexToolProtocolTests
{
    private static readonly ModelEntry Model = new("gpt-5.2-codex", ProviderKind.Codex, 0, "gpt-5.2-codex");
    private static readonly ToolDefinition Weather = new("get_weather", "The weather.", JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}}}""").RootElement.Clone());
    private static readonly ToolDefinition Bare = new("ping-v2", null, JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone());

    private static JsonNode Render(Action<Utf8JsonWriter> write) => WrittenJson.Of(write);

    private static TurnRequest Request(IReadOnlyList<ToolDefinition>? tools, ToolChoice? choice = null, bool parallel = true, IReadOnlyList<TurnMessage>? messages = null) =>
        new(Model, null, messages ?? [TurnMessage.User("hi")], Tools: tools, ToolChoice: choice, ParallelToolCalls: parallel);

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void A_thread_with_tools_declares_them_as_dynamic_tools_with_raw_events()
    {
        var p = Render(w => CodexThreadSettings.WriteThreadStart(w, new ServerConfig(), Request([Weather, Bare]), "/s", []));

        var tools = p["dynamicTools"]!.AsArray();
        Assert.Equal("""{"type":"function","name":"get_weather","description":"The weather.","inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}}""", tools[0]!.ToJsonString());
        Assert.Equal("""{"type":"function","name":"ping-v2","description":"","inputSchema":{"type":"object"}}""", tools[1]!.ToJsonString());
        Assert.True((bool)p["experimentalRawEvents"]!);
        // Codex's own tools stay off.
        Assert.False((bool)p["config"]!["features"]!["shell_tool"]!);
    }

    [Fact]
    public void A_thread_without_tools_or_with_tool_choice_none_declares_none()
    {
        foreach (var request in new[] { Request(null), Request([]), Request([Weather], new ToolChoice(ToolChoiceMode.None)) })
        {
            var p = Render(w => CodexThreadSettings.WriteThreadStart(w, new ServerConfig(), request, "/s", []));
            Assert.Null(p["dynamicTools"]);
            Assert.Null(p["experimentalRawEvents"]);
            Assert.Null(CodexThreadSettings.ToolsDigest(request));
        }
    }

    [Fact]
    public void Tool_sets_fit_a_thread_only_when_the_same_or_forbidden_on_a_thread_without_tools()
    {
        var weather = CodexThreadSettings.ToolsDigest(Request([Weather]));
        Assert.True(CodexThreadSettings.ToolsFit(weather, Request([Weather])));
        Assert.True(CodexThreadSettings.ToolsFit(weather, Request([Weather], new ToolChoice(ToolChoiceMode.None))));
        Assert.True(CodexThreadSettings.ToolsFit(null, Request([Weather], new ToolChoice(ToolChoiceMode.None))));
        Assert.True(CodexThreadSettings.ToolsFit(null, Request(null)));
        Assert.False(CodexThreadSettings.ToolsFit(weather, Request([Weather, Bare])));
        Assert.False(CodexThreadSettings.ToolsFit(weather, Request(null)));
        Assert.False(CodexThreadSettings.ToolsFit(null, Request([Weather])));
    }

    [Fact]
    public void Turn_start_adds_the_tool_choice_instruction_as_its_own_text()
    {
        var p = Render(w => CodexThreadSettings.WriteTurnStart(w, "t1", Request([Weather], new ToolChoice(ToolChoiceMode.Named, "get_weather"), parallel: false)));

        var input = p["input"]!.AsArray();
        Assert.Equal(2, input.Count);
        Assert.Equal("hi", (string?)input[0]!["text"]);
        Assert.Equal("[tool instructions: You must call the tool `get_weather` before answering. Call at most one tool at a time.]", (string?)input[1]!["text"]);
        Assert.Single(Render(w => CodexThreadSettings.WriteTurnStart(w, "t1", Request([Weather])))["input"]!.AsArray());
    }

    [Fact]
    public void A_history_with_tool_parts_is_injected_up_to_its_trailing_user_messages()
    {
        TurnMessage[] messages =
        [
            new("system", [new TextPart("Be brief.")]),
            TurnMessage.User("weather?"),
            new("assistant", [new TextPart("Looking."), new ToolCallPart("call_1", "get_weather", """{"city":"Oslo"}""")]),
            new("tool", [new ToolResultPart("call_1", "snow")]),
            new("tool", [new ToolResultPart("call_2", "boom", IsError: true)]),
            TurnMessage.User("and tomorrow?"),
        ];
        var (history, input) = CodexHistory.Split(messages);
        Assert.Equal(5, history.Count);
        Assert.Equal("and tomorrow?", ((TextPart)Assert.Single(input).Parts[0]).Text);

        var items = Render(w => CodexHistory.WriteInjectItems(w, "t1", history))["items"]!.AsArray();
        Assert.Equal(
        [
            """{"type":"message","role":"developer","content":[{"type":"input_text","text":"Be brief."}]}""",
            """{"type":"message","role":"user","content":[{"type":"input_text","text":"weather?"}]}""",
            """{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Looking."}]}""",
            """{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}""",
            """{"type":"function_call_output","call_id":"call_1","output":"snow"}""",
            """{"type":"function_call_output","call_id":"call_2","output":"[tool call failed] boom"}""",
        ], items.Select(i => i!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })));
    }

    [Fact]
    public void Earlier_turns_are_history_the_trailing_user_messages_input_and_exec_text_shows_tool_parts()
    {
        TurnMessage[] plain = [TurnMessage.User("a"), new("assistant", [new TextPart("b")]), TurnMessage.User("c"), TurnMessage.User("d")];
        var (history, input) = CodexHistory.Split(plain);
        Assert.Equal(["a", "b"], history.Select(m => ((TextPart)m.Parts[0]).Text));
        Assert.Equal(["c", "d"], input.Select(m => ((TextPart)m.Parts[0]).Text));
        // Only user messages: no earlier turn. Ending with the assistant's words (no tool parts): nothing to answer after, all input.
        Assert.Empty(CodexHistory.Split([TurnMessage.User("a"), TurnMessage.User("b")]).History);
        Assert.Empty(CodexHistory.Split(plain[..2]).History);
        Assert.Equal(2, CodexHistory.Split(plain[..2]).Input.Count);

        var text = CodexProtocol.FlattenText([TurnMessage.User("q"), new("assistant", [new ToolCallPart("call_1", "f", "{}")]), new("tool", [new ToolResultPart("call_1", "r")])]);
        Assert.Equal("[user]: q\n\n[assistant]: [called tool f (call call_1) with arguments {}]\n\n[tool]: [result of tool call call_1] r", text);
    }

    [Fact]
    public void A_step_is_whole_when_the_response_is_over_and_each_of_its_calls_was_asked_for()
    {
        var step = new CodexToolStep("turn1", ["get_weather", "ping"]);
        step.Observe(Json("""{"method":"rawResponseItem/completed","params":{"turnId":"turn1","item":{"type":"function_call","name":"get_weather","call_id":"c1","arguments":"{ \"city\": \"Oslo\" }"}}}"""));
        step.Ask(Json("0"), Json("""{"id":0,"method":"item/tool/call","params":{"turnId":"turn1","callId":"c1","tool":"get_weather","arguments":{"city":"Oslo"}}}"""));
        Assert.Null(step.TakeStep());
        step.Observe(Json("""{"method":"rawResponseItem/completed","params":{"turnId":"turn1","item":{"type":"function_call","name":"ping","call_id":"c2","arguments":"{}"}}}"""));
        step.Observe(Json("""{"method":"rawResponseItem/completed","params":{"turnId":"turn1","item":{"type":"function_call","name":"shell","call_id":"c3","arguments":"{}"}}}"""));
        step.Observe(Json("""{"method":"rawResponse/completed","params":{"turnId":"turn1"}}"""));
        // c2 was written but not yet asked for.
        Assert.Null(step.TakeStep());
        step.Ask(Json("1"), Json("""{"id":1,"method":"item/tool/call","params":{"turnId":"turn1","callId":"c2","tool":"ping","arguments":{}}}"""));

        var calls = step.TakeStep()!;
        Assert.Equal(["c1", "c2"], calls.Select(c => c.CodexCallId));
        Assert.Equal("{ \"city\": \"Oslo\" }", calls[0].Call.Arguments);
        Assert.Equal("get_weather", calls[0].Call.Name);
        Assert.Equal(1, calls[1].RequestId.GetInt32());
        Assert.NotEqual(calls[0].Call.Id, calls[1].Call.Id);
        Assert.Null(step.TakeStep());
    }

    [Fact]
    public void A_response_without_calls_is_no_step_and_arguments_without_a_raw_item_are_reserialized()
    {
        var step = new CodexToolStep("turn1", ["get_weather"]);
        step.Observe(Json("""{"method":"rawResponse/completed","params":{"turnId":"turn1"}}"""));
        Assert.Null(step.TakeStep());
        step.Ask(Json("5"), Json("""{"id":5,"method":"item/tool/call","params":{"turnId":"turn1","callId":"c9","tool":"get_weather","arguments":{"city":"Rome"}}}"""));
        Assert.Null(step.TakeStep());
        step.Observe(Json("""{"method":"rawResponse/completed","params":{"turnId":"turn1"}}"""));
        Assert.Equal("""{"city":"Rome"}""", Assert.Single(step.TakeStep()!).Call.Arguments);
    }

    [Fact]
    public void A_tool_answer_carries_the_output_and_says_a_failure_in_the_text()
    {
        Assert.Equal("""{"contentItems":[{"type":"inputText","text":"21C"}],"success":true}""",
            Render(w => CodexToolStep.WriteAnswer(w, new ToolResult("call_1", "21C"))).ToJsonString());
        Assert.Equal("""{"contentItems":[{"type":"inputText","text":"[tool call failed] boom"}],"success":false}""",
            Render(w => CodexToolStep.WriteAnswer(w, new ToolResult("call_1", "boom", IsError: true))).ToJsonString());
    }
}
