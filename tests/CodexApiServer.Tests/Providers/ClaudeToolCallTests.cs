using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>
/// Client tools through the real `claude` (pinned in tests/node) against the mock upstream, at the
/// provider: the mock calls tools by <see cref="ToolScript"/> markers, the test answers each
/// <see cref="ToolCallsRequested"/> as the client's follow-up would, and the same turn goes on.
/// </summary>
public sealed class ClaudeToolCallTests(ITestOutputHelper output)
{
    private static readonly JsonElement CitySchema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""").RootElement.Clone();

    private static ToolDefinition Tool(string name) => new(name, $"The {name} tool.", CitySchema);

    private static TurnRequest Request(string text, IReadOnlyList<ToolDefinition> tools, string? sessionId = null, ToolChoice? choice = null) =>
        new(ClaudeTestHarness.Model(), "Be brief.", [TurnMessage.User(text)], SessionId: sessionId, Tools: tools, ToolChoice: choice);

    /// <summary>Answers every request with <paramref name="answer"/>'s results and keeps the requests.</summary>
    private static Action<TurnEvent> Answering(List<ToolCallsRequested> asked, Func<ToolCall, ToolResult?> answer) => ev =>
    {
        if (ev is ToolCallsRequested request)
        {
            asked.Add(request);
            Assert.True(request.Answer([.. request.Calls.Select(answer).OfType<ToolResult>()]));
        }
    };

    private static string[] UpstreamToolNames(RecordedRequest request) =>
        [.. (request.Json["tools"]?.AsArray() ?? []).Select(t => t!["name"]!.GetValue<string>())];

    [Fact(Timeout = 60_000)]
    public async Task One_call_is_asked_with_its_exact_name_and_arguments_and_its_result_reaches_the_model()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        const string arguments = """{"city":"Zürich \"Old Town\"","days":[1,2.5],"metric":true}""";
        var marker = ToolScript.Marker("get-weather_2", arguments);
        var asked = new List<ToolCallsRequested>();

        var result = await h.RunAsync(Request("Weather? " + marker, [Tool("get-weather_2")]), Answering(asked, c => new ToolResult(c.Id, "21C and sunny")));

        Assert.True(result.Completed?.Reason == TurnEndReason.Stop, result.Describe());
        var call = Assert.Single(Assert.Single(asked).Calls);
        Assert.Equal("get-weather_2", call.Name);
        // As the model wrote them: what the mock streamed, joined from its pieces.
        Assert.Equal(ToolScript.Parse(marker)[0][0].Arguments.ToJsonString(), call.Arguments);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
        Assert.Equal("Calling tools." + ToolScript.FinalAnswer([("21C and sunny", false)]), result.Text);
        // The text before the call streamed before the call was asked.
        Assert.True(result.Events.FindIndex(e => e is TextDelta) < result.Events.FindIndex(e => e is ToolCallsRequested));
        var requests = upstream.MessageRequests;
        Assert.Equal(2, requests.Length);
        // Only the client's tool goes upstream: no built-in tool, no other MCP server.
        Assert.All(requests, r => Assert.Equal([ClaudeArgs.ToolPrefix + "get-weather_2"], UpstreamToolNames(r)));
        Assert.Equal(CitySchema.GetRawText(), requests[0].Json["tools"]![0]!["input_schema"]!.ToJsonString());
        Assert.Single(h.Provider.StartedPids);
    }

    [Fact(Timeout = 60_000)]
    public async Task Parallel_calls_of_one_step_come_in_one_request_and_an_error_or_missing_result_reaches_the_model()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        var text = ToolScript.Marker("get_weather", """{"city":"Paris"}""") + ToolScript.Marker("get_time", """{"city":"Rome"}""")
            + ToolScript.Marker("get_weather", """{"city":"Oslo"}""");
        var asked = new List<ToolCallsRequested>();

        var result = await h.RunAsync(Request(text, [Tool("get_weather"), Tool("get_time")]), Answering(asked, c => c.Arguments.Contains("Paris", StringComparison.Ordinal)
            ? new ToolResult(c.Id, "rain")
            : c.Name == "get_time" ? new ToolResult(c.Id, "no clock here", IsError: true) : null));

        var request = Assert.Single(asked);
        Assert.Equal(["get_weather", "get_time", "get_weather"], request.Calls.Select(c => c.Name));
        Assert.Equal(["""{"city":"Paris"}""", """{"city":"Rome"}""", """{"city":"Oslo"}"""], request.Calls.Select(c => c.Arguments));
        Assert.Equal(3, request.Calls.Select(c => c.Id).Distinct().Count());
        Assert.EndsWith(ToolScript.FinalAnswer([("rain", false), ("no clock here", true), ("The client sent no result for this call.", true)]), result.Text, StringComparison.Ordinal);
        Assert.Contains("(error) no clock here", result.Text, StringComparison.Ordinal);
        Assert.Equal(TurnEndReason.Stop, result.Completed?.Reason);
        Assert.Equal([ClaudeArgs.ToolPrefix + "get_weather", ClaudeArgs.ToolPrefix + "get_time"], UpstreamToolNames(upstream.MessageRequests[0]).Order().Reverse());
    }

    [Fact(Timeout = 60_000)]
    public async Task Two_rounds_hold_the_turn_twice_and_a_second_turn_continues_the_session()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        var text = ToolScript.Marker("get_weather", """{"city":"Paris"}""") + "<<next>>" + ToolScript.Marker("get_weather", """{"city":"Rome"}""");
        var asked = new List<ToolCallsRequested>();

        var result = await h.RunAsync(Request(text, [Tool("get_weather")]), Answering(asked, c => new ToolResult(c.Id, "weather of " + c.Arguments)));

        Assert.Equal(2, asked.Count);
        Assert.Equal(["""{"city":"Paris"}""", """{"city":"Rome"}"""], asked.Select(a => Assert.Single(a.Calls).Arguments));
        Assert.EndsWith(ToolScript.FinalAnswer([("""weather of {"city":"Paris"}""", false), ("""weather of {"city":"Rome"}""", false)]), result.Text, StringComparison.Ordinal);
        Assert.Equal(3, upstream.MessageRequests.Length);

        var next = await h.RunAsync(Request("And now?", [Tool("get_weather")], result.Completed!.SessionId));
        Assert.Equal("Hello from the mock.", next.Text);
        Assert.Single(h.Provider.StartedPids);
    }

    [Fact(Timeout = 60_000)]
    public async Task Cancelled_while_held_ends_the_process_and_the_session_resumes()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        var tools = new[] { Tool("get_weather") };
        var first = await h.RunAsync(Request("Remember the word pelican.", tools));
        var id = first.Completed!.SessionId!;
        var pid = Assert.Single(h.Provider.StartedPids);
        using var cts = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.RunAsync(
            Request(ToolScript.Marker("get_weather", """{"city":"Paris"}"""), tools, id),
            ev =>
            {
                if (ev is ToolCallsRequested)
                {
                    cts.Cancel();
                }
            },
            cts.Token));

        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(2)), "held process still alive");
        Assert.Null(h.Provider.PidOf(id));
        Assert.Empty(h.Provider.CliProcesses());

        var resumed = await h.RunAsync(Request("Which word?", tools, id));

        Assert.True(resumed.Completed?.SessionId == id, resumed.Describe());
        Assert.Equal(2, h.Provider.StartedPids.Count);
        var history = upstream.MessageRequests[^1].Json["messages"]!.ToJsonString();
        Assert.Contains("pelican", history, StringComparison.Ordinal);
        output.WriteLine($"resumed after a cancelled tool call; upstream history: {history.Length} chars, roles {string.Join(",", upstream.MessageRequests[^1].Json["messages"]!.AsArray().Select(m => (string)m!["role"]!))}");
    }

    [Fact(Timeout = 90_000)]
    public async Task Each_tool_set_gets_its_own_spare_serving_its_own_tools()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1);
        ToolDefinition[] weather = [Tool("get_weather")], time = [Tool("get_time")];

        // Each key twice (a key seen once keeps no spare), and one of its conversations goes on (so the next new
        // one takes the spare, not a finished one-off conversation's process: README, Warm spares).
        var conversations = new List<TurnResult>();
        var spares = new List<int>();
        foreach (var (name, tools) in new[] { ("weather", weather), ("time", time) })
        {
            var first = await h.RunAsync(Request("warm " + name, tools));
            Assert.NotNull((await h.RunAsync(Request("and on", tools, sessionId: first.Completed!.SessionId))).Completed);
            conversations.AddRange([first, await h.RunAsync(Request($"warm {name} again", tools))]);
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == spares.Count + 1, TimeSpan.FromSeconds(5)));
            spares.Add(h.SpareBesides(conversations, [.. spares]));
        }
        await Processes.AssertSpareLoadedAsync(h.Provider.StartedPids);
        var (weatherSpare, timeSpare) = (spares[0], spares[1]);

        var asked = new List<ToolCallsRequested>();
        var onTime = await h.RunAsync(Request(ToolScript.Marker("get_time", """{"city":"Oslo"}"""), time), Answering(asked, c => new ToolResult(c.Id, "noon")));
        var onWeather = await h.RunAsync(Request(ToolScript.Marker("get_weather", """{"city":"Oslo"}"""), weather), Answering(asked, c => new ToolResult(c.Id, "snow")));

        // Both new conversations ran on the spares of their tool sets, which listed their own tools.
        Assert.Equal(timeSpare, h.Provider.PidOf(onTime.Completed!.SessionId!));
        Assert.Equal(weatherSpare, h.Provider.PidOf(onWeather.Completed!.SessionId!));
        Assert.Equal(["get_time", "get_weather"], asked.Select(a => Assert.Single(a.Calls).Name));
        Assert.EndsWith(ToolScript.FinalAnswer([("noon", false)]), onTime.Text, StringComparison.Ordinal);
        Assert.EndsWith(ToolScript.FinalAnswer([("snow", false)]), onWeather.Text, StringComparison.Ordinal);
        var last = upstream.MessageRequests[^1];
        Assert.Equal([ClaudeArgs.ToolPrefix + "get_weather"], UpstreamToolNames(last));
    }

    [Fact(Timeout = 60_000)]
    public async Task Tool_choice_none_declares_no_tool_and_required_says_so_in_the_message()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);

        var none = await h.RunAsync(Request("hi", [Tool("get_weather")], choice: new ToolChoice(ToolChoiceMode.None)));
        var required = await h.RunAsync(Request("hi again", [Tool("get_weather")], choice: new ToolChoice(ToolChoiceMode.Required)));

        Assert.Equal("Hello from the mock.", none.Text);
        Assert.Equal("Hello from the mock.", required.Text);
        var requests = upstream.MessageRequests;
        Assert.Empty(UpstreamToolNames(requests[0]));
        Assert.Contains("Do not call any tool", requests[0].Body, StringComparison.Ordinal);
        Assert.Equal([ClaudeArgs.ToolPrefix + "get_weather"], UpstreamToolNames(requests[1]));
        var lastUser = requests[1].Json["messages"]!.AsArray()[^1]!["content"]!.AsArray();
        Assert.Equal("[tool instructions: You must call at least one of the available tools before answering.]", lastUser[^1]!["text"]!.GetValue<string>());
    }
}
