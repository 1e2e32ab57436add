using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>Client tools through the real codex CLI (app-server, dynamic tools) against the mock Responses server.</summary>
public sealed class CodexToolCallTests(ITestOutputHelper output)
{
    private static readonly ToolDefinition Weather = Tool("get_weather", "The weather in a city.", """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");
    private static readonly ToolDefinition Time = Tool("get-time_v2", null, """{"type":"object","properties":{"tz":{"type":"string"}}}""");
    private static readonly ToolDefinition Stock = Tool("get_stock", "A stock price.", """{"type":"object","properties":{"ticker":{"type":"string"}}}""");

    private static ToolDefinition Tool(string name, string? description, string schema) => new(name, description, JsonDocument.Parse(schema).RootElement.Clone());

    private static TurnRequest Ask(string text, IReadOnlyList<ToolDefinition>? tools, string? sessionId = null, ToolChoice? choice = null) =>
        new(CodexHarness.Model(), null, [TurnMessage.User(text)], SessionId: sessionId, Tools: tools, ToolChoice: choice);

    private static async Task<(MockResponsesUpstream Mock, CodexHarness Codex)> StartAsync()
    {
        var mock = await MockResponsesUpstream.StartAsync();
        return (mock, CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment()));
    }

    /// <summary>Runs a turn, answering every held step with <paramref name="answer"/>.</summary>
    private static async Task<(List<TurnEvent> Events, List<ToolCallsRequested> Held)> RunAsync(CodexHarness codex, TurnRequest request,
        Func<ToolCall, ToolResult> answer, CancellationToken cancellationToken = default)
    {
        var events = new List<TurnEvent>();
        var held = new List<ToolCallsRequested>();
        await foreach (var e in codex.Provider.RunAsync(request, cancellationToken))
        {
            events.Add(e);
            if (e is ToolCallsRequested step)
            {
                held.Add(step);
                Assert.True(step.Answer([.. step.Calls.Select(answer)]));
            }
        }
        return (events, held);
    }

    private static IEnumerable<string?> UpstreamToolNames(JsonNode request) => (request["tools"]?.AsArray() ?? []).Select(t => (string?)t!["name"]);

    private static IReadOnlyList<JsonNode> Items(JsonNode request, string type) => [.. request["input"]!.AsArray().Where(i => (string?)i!["type"] == type).Select(i => i!)];

    [Fact]
    public async Task One_call_is_held_until_answered_and_its_result_reaches_the_model()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var (events, held) = await RunAsync(codex, Ask("Weather? " + ToolScript.Marker("get_weather", """{"city":"Paris"}"""), [Weather]),
            call => new ToolResult(call.Id, "21C"));

        var call = Assert.Single(Assert.Single(held).Calls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("""{"city":"Paris"}""", call.Arguments);
        Assert.StartsWith("call_", call.Id);
        Assert.Equal(ToolScript.FinalAnswer([("21C", false)]), events.Text());
        Assert.NotNull(events.Completed().SessionId);
        Assert.Equal(2, mock.Requests.Count);
        // Declared as the client wrote it, and none of codex's own tools beside it.
        var declared = Assert.Single(mock.Requests[0]["tools"]!.AsArray())!;
        Assert.Equal("get_weather", (string?)declared["name"]);
        Assert.Equal("The weather in a city.", (string?)declared["description"]);
        Assert.Equal("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""", declared["parameters"]!.ToJsonString());
        Assert.Equal("21C", (string?)Assert.Single(Items(mock.Requests[1], "function_call_output"))["output"]);
    }

    [Fact]
    public async Task Two_parallel_calls_come_back_together_and_both_results_reach_the_model()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        // Codex asks for the first call while the model still writes the second.
        mock.DeltaDelay = TimeSpan.FromMilliseconds(150);

        var (events, held) = await RunAsync(codex,
            Ask(ToolScript.Marker("get_weather", """{"city":"Paris"}""") + " and " + ToolScript.Marker("get-time_v2", """{"tz":"Europe/Paris","n":[1,2.50]}"""), [Weather, Time]),
            call => new ToolResult(call.Id, call.Name == "get_weather" ? "sunny" : "noon"));

        var step = Assert.Single(held);
        Assert.Equal(["get_weather", "get-time_v2"], step.Calls.Select(c => c.Name));
        Assert.Equal(["""{"city":"Paris"}""", """{"tz":"Europe/Paris","n":[1,2.50]}"""], step.Calls.Select(c => c.Arguments));
        Assert.Equal(2, step.Calls.Select(c => c.Id).Distinct().Count());
        Assert.Equal(ToolScript.FinalAnswer([("sunny", false), ("noon", false)]), events.Text());
        events.Completed();
        Assert.Equal(2, mock.Requests.Count);
    }

    [Fact]
    public async Task Two_rounds_are_held_in_turn_within_one_turn()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var (events, held) = await RunAsync(codex,
            Ask(ToolScript.Marker("get_weather", """{"city":"Oslo"}""") + "<<next>>" + ToolScript.Marker("get_stock", """{"ticker":"NHY"}"""), [Weather, Stock]),
            call => new ToolResult(call.Id, call.Name + " done"));

        Assert.Equal(2, held.Count);
        Assert.Equal("get_weather", Assert.Single(held[0].Calls).Name);
        Assert.Equal("get_stock", Assert.Single(held[1].Calls).Name);
        Assert.Equal(ToolScript.FinalAnswer([("get_weather done", false), ("get_stock done", false)]), events.Text());
        Assert.Single(events.OfType<TurnEnded>());
        Assert.Equal(3, mock.Requests.Count);
    }

    [Fact]
    public async Task A_failed_result_reaches_the_model_as_a_failure()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var (events, _) = await RunAsync(codex, Ask(ToolScript.Marker("get_weather", """{"city":"Atlantis"}"""), [Weather]),
            call => new ToolResult(call.Id, "no such city", IsError: true));

        Assert.Equal(ToolScript.FinalAnswer([("no such city", true)]), events.Text());
        Assert.Contains("(error)", events.Text());
        events.Completed();
    }

    [Fact]
    public async Task A_step_answered_without_a_result_for_a_call_tells_the_model_it_failed()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var (events, _) = await RunAsync(codex, Ask(ToolScript.Marker("get_weather", """{"city":"Rome"}"""), [Weather]),
            call => new ToolResult("call_someone_else", "x"));

        Assert.StartsWith(ToolScript.FinalAnswer([("", true)]), events.Text());
        events.Completed();
    }

    [Fact]
    public async Task Cancelling_while_held_interrupts_the_turn_and_the_thread_takes_the_next_turn()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        var session = (await RunAsync(codex, Ask("hello", [Weather]), c => new ToolResult(c.Id, "-"))).Events.Completed().SessionId!;
        var pid = codex.Provider.AppServerPid;
        var children = codex.Children.Count;

        using var cts = new CancellationTokenSource();
        ToolCallsRequested? held = null;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in codex.Provider.RunAsync(Ask(ToolScript.Marker("get_weather", """{"city":"Lima"}"""), [Weather], session), cts.Token))
            {
                if (e is ToolCallsRequested step)
                {
                    held = step;
                    await cts.CancelAsync();
                }
            }
        });
        Assert.NotNull(held);

        var next = await RunAsync(codex, Ask("still there?", [Weather], session), c => new ToolResult(c.Id, "-"));

        Assert.Equal(session, next.Events.Completed().SessionId);
        Assert.Equal("Hello from the mock.", next.Events.Text());
        Assert.Empty(next.Held);
        Assert.Equal(pid, codex.Provider.AppServerPid);
        Assert.Equal(children, codex.Children.Count);
        Assert.DoesNotContain(codex.Logs.Lines, l => l.Contains("did not finish cleanly"));
        // The interrupted call never went upstream as a result: the next request has the new question last.
        Assert.Equal("still there?", (string?)mock.Requests[^1]["input"]!.AsArray().Last(i => (string?)i!["role"] == "user")!["content"]![0]!["text"]);
    }

    [Fact]
    public async Task Conversations_with_different_tools_never_share_a_spare_thread()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        (await RunAsync(codex, Ask("first", [Weather]), c => new ToolResult(c.Id, "-"))).Events.Completed();
        await CodexFakeTests.WaitForAsync(() => codex.Provider.SpareCount == 1);
        (await RunAsync(codex, Ask("second", [Stock]), c => new ToolResult(c.Id, "-"))).Events.Completed();
        (await RunAsync(codex, Ask("third", null), c => new ToolResult(c.Id, "-"))).Events.Completed();
        await CodexFakeTests.WaitForAsync(() => codex.Provider.SpareCount == 3);
        (await RunAsync(codex, Ask("fourth", [Weather]), c => new ToolResult(c.Id, "-"))).Events.Completed();

        Assert.Equal(["get_weather"], UpstreamToolNames(mock.Requests[0]));
        Assert.Equal(["get_stock"], UpstreamToolNames(mock.Requests[1]));
        Assert.Empty(UpstreamToolNames(mock.Requests[2]));
        Assert.Equal(["get_weather"], UpstreamToolNames(mock.Requests[3]));
    }

    [Fact]
    public async Task A_session_continued_with_other_tools_is_session_not_found_and_with_the_same_tools_goes_on()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        var session = (await RunAsync(codex, Ask("hi", [Weather]), c => new ToolResult(c.Id, "-"))).Events.Completed().SessionId!;

        var other = (await RunAsync(codex, Ask("again", [Stock], session), c => new ToolResult(c.Id, "-"))).Events;
        var none = (await RunAsync(codex, Ask("again", null, session), c => new ToolResult(c.Id, "-"))).Events;
        var forbidden = (await RunAsync(codex, Ask("again", [Weather], session, new ToolChoice(ToolChoiceMode.None)), c => new ToolResult(c.Id, "-"))).Events;
        var same = (await RunAsync(codex, Ask("again", [Weather], session), c => new ToolResult(c.Id, "-"))).Events;

        Assert.Equal(ProviderErrorKind.SessionNotFound, other.Failed().Kind);
        Assert.Equal(ProviderErrorKind.SessionNotFound, none.Failed().Kind);
        Assert.Equal(session, forbidden.Completed().SessionId);
        Assert.Equal(session, same.Completed().SessionId);
        Assert.Equal(3, mock.Requests.Count);
    }

    [Fact]
    public async Task Tool_choice_none_declares_no_tools_and_required_adds_its_instruction()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var none = await RunAsync(codex, Ask("plain " + ToolScript.Marker("get_weather", "{}"), [Weather], choice: new ToolChoice(ToolChoiceMode.None)), c => new ToolResult(c.Id, "-"));
        var required = await RunAsync(codex, Ask("do it", [Weather], choice: new ToolChoice(ToolChoiceMode.Required)), c => new ToolResult(c.Id, "-"));

        Assert.Empty(none.Held);
        Assert.Empty(UpstreamToolNames(mock.Requests[0]));
        Assert.Contains("Do not call any tool", mock.Requests[0]["input"]!.ToJsonString());
        required.Events.Completed();
        var user = mock.Requests[1]["input"]!.AsArray().Last(i => (string?)i!["role"] == "user")!;
        Assert.Equal(["do it", "[tool instructions: You must call at least one of the available tools before answering.]"],
            user["content"]!.AsArray().Select(c => (string?)c!["text"]));
    }

    [Fact]
    public async Task A_history_with_tool_calls_goes_to_a_new_thread_as_function_call_items()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        var request = new TurnRequest(CodexHarness.Model(), "Be brief.",
        [
            TurnMessage.User("Weather? " + ToolScript.Marker("get_weather", """{"city":"Paris"}""")),
            new TurnMessage("assistant", [new TextPart("Let me look."), new ToolCallPart("call_abc", "get_weather", """{"city":"Paris"}""")]),
            new TurnMessage("tool", [new ToolResultPart("call_abc", "rain", IsError: true)]),
        ], Tools: [Weather]);

        var (events, held) = await RunAsync(codex, request, c => new ToolResult(c.Id, "-"));

        Assert.Empty(held);
        Assert.Equal(ToolScript.FinalAnswer([("rain", true)]), events.Text());
        events.Completed();
        var sent = Assert.Single(mock.Requests);
        output.WriteLine(sent["input"]!.ToJsonString());
        var call = Assert.Single(Items(sent, "function_call"));
        Assert.Equal("call_abc", (string?)call["call_id"]);
        Assert.Equal("get_weather", (string?)call["name"]);
        Assert.Equal("""{"city":"Paris"}""", (string?)call["arguments"]);
        Assert.Equal("call_abc", (string?)Assert.Single(Items(sent, "function_call_output"))["call_id"]);
        Assert.Contains(Items(sent, "message"), m => (string?)m["role"] == "assistant" && m.ToJsonString().Contains("Let me look."));
    }

    [Fact]
    public async Task The_exec_fallback_refuses_tools_at_once()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        await using var codex = CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment(), forceMode: "exec");

        var error = (await codex.RunAsync(Ask("hi", [Weather]))).Failed();

        Assert.Equal(ProviderErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("client tools need codex app-server", error.Message);
        Assert.Empty(mock.Requests);
        // tool_choice none needs no tools: the turn runs.
        (await codex.RunAsync(Ask("hi", [Weather], choice: new ToolChoice(ToolChoiceMode.None)))).Completed();
    }
}
