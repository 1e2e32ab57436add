using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Endpoints;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// Function calling through our server and the real CLIs: the mock model calls the client's tools (by
/// the <see cref="ToolScript"/> markers in the prompt), the client gets the calls, and its results go
/// back into the same CLI turn.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class ToolsEndToEndTests(RealStackFixture stack) : IClassFixture<RealStackFixture>
{
    private static readonly JsonArray ChatTools = JsonNode.Parse("""
        [{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
         {"type":"function","function":{"name":"get_time","description":"The time in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]
        """)!.AsArray();

    private static readonly JsonArray ResponsesTools = new([.. ChatTools.Select(t => (JsonNode)new JsonObject
    {
        ["type"] = "function",
        ["name"] = t!["function"]!["name"]!.DeepClone(),
        ["description"] = t["function"]!["description"]!.DeepClone(),
        ["parameters"] = t["function"]!["parameters"]!.DeepClone(),
    })]);

    private static JsonObject Chat(string model, JsonArray messages, bool stream = false)
    {
        var body = new JsonObject { ["model"] = model, ["messages"] = messages, ["tools"] = ChatTools.DeepClone() };
        if (stream)
        {
            body["stream"] = true;
        }
        return body;
    }

    private static JsonObject ToolMessage(JsonNode call, string content) =>
        new() { ["role"] = "tool", ["tool_call_id"] = call["id"]!.DeepClone(), ["content"] = content };

    private static void AssertArguments(string expected, JsonNode? arguments) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(arguments!.GetValue<string>())), $"arguments {arguments}");

    [Theory(Timeout = 90_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Chat_a_call_is_answered_and_its_result_goes_back_into_the_same_cli_turn(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;
        var user = new JsonObject { ["role"] = "user", ["content"] = "What is the weather? " + ToolScript.Marker("get_weather", """{"city":"Paris"}""") };

        var (first, body) = await server.PostJsonAsync("/v1/chat/completions", Chat(model, [user.DeepClone()]));

        Assert.Equal(200, (int)first.StatusCode);
        var choice = body["choices"]![0]!;
        Assert.Equal("tool_calls", (string?)choice["finish_reason"]);
        var call = Assert.Single(choice["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("get_weather", (string?)call["function"]!["name"]); // as declared, no CLI prefix
        AssertArguments("""{"city":"Paris"}""", call["function"]!["arguments"]);
        var upstreamBefore = Upstream.Count(stack, model);
        var pids = server.ProviderProcessTree();

        var (second, final) = await server.PostJsonAsync("/v1/chat/completions",
            Chat(model, [user.DeepClone(), choice["message"]!.DeepClone(), ToolMessage(call, "sunny in Paris, 21C")]));

        Assert.Equal(200, (int)second.StatusCode);
        Assert.Equal("stop", (string?)final["choices"]![0]!["finish_reason"]);
        Assert.Equal("TOOL RESULTS: sunny in Paris, 21C", (string?)final["choices"]![0]!["message"]!["content"]);
        Assert.Equal(upstreamBefore + 1, Upstream.Count(stack, model)); // one more model request: the same turn went on
        Assert.Subset(server.ProviderProcessTree().ToHashSet(), pids.ToHashSet()); // on the same process (a new spare may have joined)
        Assert.Equal(0, server.App.Services.GetRequiredService<HeldTurns>().Count);
    }

    [Theory(Timeout = 120_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Responses_two_parallel_calls_come_together_then_a_second_round_then_an_error_text_all_in_one_turn(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;
        var prompt = "Weather and time, then Oslo. " + ToolScript.Marker("get_weather", """{"city":"Paris"}""") + " " + ToolScript.Marker("get_time", """{"city":"Tokyo"}""")
            + " <<next>> " + ToolScript.Marker("get_weather", """{"city":"Oslo"}""");
        var request = new JsonObject { ["model"] = model, ["input"] = prompt, ["tools"] = ResponsesTools.DeepClone(), ["stream"] = true };

        using var stream = await server.PostAsync("/v1/responses", request);
        var events = Wire.DataOf(await stream.Content.ReadAsStringAsync()).Select(d => JsonNode.Parse(d)!).ToList();
        var first = events[^1]["response"]!;
        Assert.Equal("response.completed", (string?)events[^1]["type"]);
        var calls = first["output"]!.AsArray().Where(o => (string?)o!["type"] == "function_call").ToList();
        Assert.Equal(["get_weather", "get_time"], calls.Select(c => (string)c!["name"]!)); // both calls of the step, in one response
        AssertArguments("""{"city":"Paris"}""", calls[0]!["arguments"]);
        AssertArguments("""{"city":"Tokyo"}""", calls[1]!["arguments"]);
        Assert.Equal(2, events.Count(e => (string?)e["type"] == "response.function_call_arguments.done"));

        JsonObject FollowUp(string previous, params (JsonNode Call, string Output)[] outputs) => new()
        {
            ["model"] = model,
            ["previous_response_id"] = previous,
            ["tools"] = ResponsesTools.DeepClone(),
            ["input"] = new JsonArray([.. outputs.Select(o => (JsonNode)new JsonObject
            {
                ["type"] = "function_call_output",
                ["call_id"] = o.Call["call_id"]!.DeepClone(),
                ["output"] = o.Output,
            })]),
        };
        var (_, second) = await server.PostJsonAsync("/v1/responses", FollowUp((string)first["id"]!, (calls[0]!, "sunny in Paris"), (calls[1]!, "21:30 in Tokyo")));
        var again = Assert.Single(second["output"]!.AsArray(), o => (string?)o!["type"] == "function_call")!;
        Assert.Equal("get_weather", (string?)again["name"]);
        AssertArguments("""{"city":"Oslo"}""", again["arguments"]);

        var (_, final) = await server.PostJsonAsync("/v1/responses", FollowUp((string)second["id"]!, (again, "Error: no weather station in Oslo")));
        Assert.Equal("completed", (string?)final["status"]);
        Assert.Equal("TOOL RESULTS: sunny in Paris | 21:30 in Tokyo | Error: no weather station in Oslo", (string?)final["output_text"]);
        Assert.Equal(0, server.App.Services.GetRequiredService<HeldTurns>().Count);
    }

    [Theory(Timeout = 90_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task A_client_that_never_comes_back_has_its_turn_ended_at_the_timeout_and_nothing_left_running(string model)
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(extraConfig: """{"toolResultTimeoutSeconds":2}""", maxSpares: 0);
        var user = new JsonObject { ["role"] = "user", ["content"] = "Weather? " + ToolScript.Marker("get_weather", """{"city":"Rome"}""") };

        var (_, body) = await server.PostJsonAsync("/v1/chat/completions", Chat(model, [user]));
        Assert.Equal("tool_calls", (string?)body["choices"]![0]!["finish_reason"]);
        var held = server.App.Services.GetRequiredService<HeldTurns>();
        Assert.Equal(1, held.Count);
        var busy = server.ProviderProcessTree();

        Assert.True(await Providers.ClaudeTestHarness.WaitUntilAsync(() => held.Count == 0, TimeSpan.FromSeconds(15)), "the held turn was not ended");
        if (model == RealStackFixture.ClaudeModel)
        {
            // The session's claude process is ended (the session stays resumable from disk).
            await Processes.AssertAllEndAsync(busy, TimeSpan.FromSeconds(10));
        }
        // The CLI is free again: a new request on it answers at once.
        var (next, nextBody) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "hello")));
        Assert.Equal(200, (int)next.StatusCode);
        Assert.Equal(RealStackFixture.Text, (string?)nextBody["choices"]![0]!["message"]!["content"]);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_server_as_a_process_carries_tool_calls_through_both_clis()
    {
        // The published binary when CODEX_API_SERVER_BIN names one (trimmed, native AOT), else the built assembly.
        stack.ResetMocks();
        var dir = TempDir.Create("tools-process");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "config.json"), new JsonObject { ["codexPath"] = RealClis.Codex, ["claudePath"] = RealClis.Claude }.ToJsonString());
            var env = new Dictionary<string, string?>(stack.ClaudeEnvironment);
            foreach (var (key, value) in stack.CodexEnvironment)
            {
                env[key] = value;
            }
            using var server = ServerProcess.Start(["--port", "0", "--data-dir", dir], env);
            using var client = new HttpClient { BaseAddress = await server.WaitListeningAsync(), Timeout = TimeSpan.FromSeconds(60) };
            async Task<JsonNode> PostAsync(JsonNode body)
            {
                using var response = await client.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, text);
                return JsonNode.Parse(text)!;
            }
            foreach (var model in new[] { RealStackFixture.CodexModel, RealStackFixture.ClaudeModel })
            {
                var user = new JsonObject { ["role"] = "user", ["content"] = "Weather? " + ToolScript.Marker("get_weather", """{"city":"Bern"}""") };
                var first = await PostAsync(Chat(model, [user.DeepClone()]));
                var message = first["choices"]![0]!["message"]!;
                var call = Assert.Single(message["tool_calls"]!.AsArray())!;
                Assert.Equal("get_weather", (string?)call["function"]!["name"]);
                var final = await PostAsync(Chat(model, [user.DeepClone(), message.DeepClone(), ToolMessage(call, "foggy in Bern")]));
                Assert.Equal("TOOL RESULTS: foggy in Bern", (string?)final["choices"]![0]!["message"]!["content"]);
            }
        }
        finally
        {
            TempDir.Delete(dir);
        }
    }

    [Theory(Timeout = 120_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task A_follow_up_after_a_restart_starts_a_new_session_with_the_calls_and_results_in_its_history(string model)
    {
        stack.ResetMocks();
        var first = await stack.StartServerAsync();
        var user = new JsonObject { ["role"] = "user", ["content"] = "Weather? " + ToolScript.Marker("get_weather", """{"city":"Lima"}""") };
        JsonNode message;
        try
        {
            var (_, body) = await first.PostJsonAsync("/v1/chat/completions", Chat(model, [user.DeepClone()]));
            message = body["choices"]![0]!["message"]!;
            Assert.Single(message["tool_calls"]!.AsArray());
            var tree = first.ProviderProcessTree();
            await first.StopAsync();
            await Processes.AssertAllEndAsync(tree, TimeSpan.FromSeconds(10));
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        await using var second = await stack.StartServerAsync(first.DataDir);
        var call = message["tool_calls"]![0]!;
        var (response, final) = await second.PostJsonAsync("/v1/chat/completions",
            Chat(model, [user.DeepClone(), message.DeepClone(), ToolMessage(call, "cloudy in Lima, 17C")]));

        Assert.Equal(200, (int)response.StatusCode);
        if (model == RealStackFixture.CodexModel)
        {
            // Codex takes the history as items (thread/inject_items): the model sees the call and its output as such, and answers.
            var input = stack.CodexUpstream.Requests[^1]["input"]!.AsArray();
            Assert.Contains(input, i => (string?)i!["type"] == "function_call" && (string?)i["name"] == "get_weather");
            Assert.Contains(input, i => (string?)i!["type"] == "function_call_output" && i["output"]!.ToJsonString().Contains("cloudy in Lima, 17C", StringComparison.Ordinal));
            Assert.Equal("stop", (string?)final["choices"]![0]!["finish_reason"]);
            Assert.Equal("TOOL RESULTS: cloudy in Lima, 17C", (string?)final["choices"]![0]!["message"]!["content"]);
        }
        else
        {
            // Claude Code takes history only as a transcript in the new session's first message: the call and the
            // result are in it as text. (The mock, reading markers, may call again; a model reads the result.)
            var sent = stack.ClaudeUpstream.MessageRequests[^1].Json.ToJsonString();
            Assert.Contains("[called tool get_weather", sent, StringComparison.Ordinal);
            Assert.Contains("cloudy in Lima, 17C", sent, StringComparison.Ordinal);
        }
    }
}
