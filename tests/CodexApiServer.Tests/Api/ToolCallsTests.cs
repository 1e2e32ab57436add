using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using CodexApiServer.Endpoints;
using CodexApiServer.Providers;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Api;

/// <summary>
/// The held turn over HTTP, on a scripted provider that calls the request's tools: the client is answered
/// with the calls at once, and its follow-up resumes the same turn (one provider run), for both APIs.
/// </summary>
public sealed class ToolCallsTests
{
    private const string Tools = """
        [{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
         {"type":"function","function":{"name":"get-time_2","parameters":{"type":"object","properties":{}}}}]
        """;

    private const string FlatTools = """
        [{"type":"function","name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},
         {"type":"function","name":"get-time_2","parameters":{"type":"object","properties":{}}}]
        """;

    /// <summary>Calls every declared tool in one step (rounds times), then says what came back.</summary>
    private static async IAsyncEnumerable<TurnEvent> CallingModel(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken, int rounds = 1)
    {
        yield return new TextDelta("Let me check. ");
        var outputs = new List<string>();
        for (var round = 0; round < rounds; round++)
        {
            var calls = new ToolCallsRequested([.. request.Tools!.Select((t, i) => new ToolCall(ToolCall.NewId(), t.Name, $$"""{"city":"Paris","n":{{round * 10 + i}}}"""))]);
            yield return new UsageReport(new TokenUsage(10 + round, 2));
            yield return calls;
            var results = await calls.Results.WaitAsync(cancellationToken);
            outputs.AddRange(calls.Calls.Select(c => ToolCallsRequested.ResultFor(c, results)).Select(r => (r.IsError ? "(error) " : "") + r.Output));
        }
        yield return new TextDelta("Results: " + string.Join(" | ", outputs));
        yield return new TurnEnded(TurnEndReason.Stop, "sess-tools", new TokenUsage(30, 5));
    }

    private static string Chat(string messages, string extra = "") =>
        $$"""{"model":"gpt-5.2-codex","messages":{{messages}},"tools":{{Tools}}{{extra}}}""";

    [Fact]
    public async Task Chat_answers_the_calls_at_once_and_the_tool_messages_resume_the_same_turn()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);
        const string user = """[{"role":"user","content":"Weather and time in Paris?"}]""";

        var (first, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat(user));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var choice = body!["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        var message = choice["message"]!;
        Assert.Equal("Let me check. ", message["content"]!.GetValue<string>());
        var calls = message["tool_calls"]!.AsArray();
        Assert.Equal(2, calls.Count); // both calls of the step, together
        Assert.Equal(["get_weather", "get-time_2"], calls.Select(c => c!["function"]!["name"]!.GetValue<string>()));
        Assert.All(calls, c => Assert.Equal("function", c!["type"]!.GetValue<string>()));
        Assert.Equal("""{"city":"Paris","n":0}""", calls[0]!["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal(10, body["usage"]!["prompt_tokens"]!.GetValue<long>()); // the usage reported before the calls
        var sent = Assert.Single(fake.Requests);
        Assert.Equal(["get_weather", "get-time_2"], sent.Tools!.Select(t => t.Name));
        Assert.Equal("Weather of a city", sent.Tools![0].Description);
        Assert.Equal(1, server.App.Services.GetRequiredService<HeldTurns>().Count);

        var assistant = message.ToJsonString();
        var followUp = $$"""
            [{"role":"user","content":"Weather and time in Paris?"},{{assistant}},
            {"role":"tool","tool_call_id":"{{calls[0]!["id"]}}","content":"sunny"},{"role":"tool","tool_call_id":"{{calls[1]!["id"]}}","content":[{"type":"text","text":"21:30"}]}]
            """;
        var (second, final) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat(followUp));

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("stop", final!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal("Results: sunny | 21:30", final["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Null(final["choices"]![0]!["message"]!["tool_calls"]);
        Assert.Single(fake.Requests); // the same turn went on: no new provider run
        Assert.Equal(0, server.App.Services.GetRequiredService<HeldTurns>().Count);
    }

    [Fact]
    public async Task Streamed_tool_call_chunks_follow_the_rules_clients_parse_them_by()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);

        var (response, _, frames) = await server.StreamAsync("/v1/chat/completions",
            Chat("""[{"role":"user","content":"Go"}]""", ""","stream":true,"stream_options":{"include_usage":true}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var chunks = frames.Where(f => f.Data is not null && f.Data != "[DONE]").Select(f => JsonNode.Parse(f.Data!)!).ToList();
        Assert.Equal("[DONE]", frames[^1].Data);
        var id = chunks[0]["id"]!.GetValue<string>();
        Assert.All(chunks, c =>
        {
            Assert.Equal(id, c["id"]!.GetValue<string>());
            Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>());
        });
        var toolDeltas = chunks.Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["delta"]!["tool_calls"] is not null)
            .Select(c => Assert.Single(c["choices"]![0]!["delta"]!["tool_calls"]!.AsArray())!).ToList();
        Assert.Equal(4, toolDeltas.Count);
        foreach (var (delta, i) in toolDeltas.Select((d, i) => (d, i)))
        {
            var index = i / 2;
            Assert.Equal(index, delta["index"]!.GetValue<int>());
            var function = delta["function"]!.AsObject();
            if (i % 2 == 0)
            {
                // The first of each call: index, id, type, name and empty arguments.
                Assert.StartsWith("call_", delta["id"]!.GetValue<string>());
                Assert.Equal("function", delta["type"]!.GetValue<string>());
                Assert.Equal(index == 0 ? "get_weather" : "get-time_2", function["name"]!.GetValue<string>());
                Assert.Equal("", function["arguments"]!.GetValue<string>());
            }
            else
            {
                // Later ones: only index and arguments (a repeated id or name gets concatenated by clients).
                Assert.Equal(["index", "function"], delta.AsObject().Select(p => p.Key));
                Assert.Equal(["arguments"], function.Select(p => p.Key));
                Assert.Equal($$"""{"city":"Paris","n":{{index}}}""", function["arguments"]!.GetValue<string>());
            }
        }
        // role only in the first delta; a non-null finish_reason on the last choice chunk; usage last.
        Assert.Single(chunks, c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["delta"]!["role"] is not null);
        var last = chunks.Last(c => c["choices"]!.AsArray().Count > 0);
        Assert.Equal("tool_calls", last["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(10, chunks[^1]["usage"]!["prompt_tokens"]!.GetValue<long>());
    }

    [Fact]
    public async Task Responses_returns_function_call_items_and_previous_response_id_with_outputs_resumes_two_rounds()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct, rounds: 2));
        await using var server = await ApiServer.StartAsync(fake);

        var (_, first) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses",
            $$"""{"model":"gpt-5.2-codex","input":"Weather?","tools":{{FlatTools}},"tool_choice":"required"}""");

        Assert.Equal("completed", first!["status"]!.GetValue<string>());
        Assert.Equal(2, first["tools"]!.AsArray().Count); // echoed
        Assert.Equal("required", first["tool_choice"]!.GetValue<string>());
        Assert.Equal(ToolChoiceMode.Required, fake.Requests.Single().ToolChoice!.Mode);
        var output = first["output"]!.AsArray();
        Assert.Equal(["message", "function_call", "function_call"], output.Select(o => o!["type"]!.GetValue<string>()));
        var calls = output.Skip(1).ToList();
        Assert.All(calls, c =>
        {
            Assert.Equal("completed", c!["status"]!.GetValue<string>());
            Assert.StartsWith("call_", c["call_id"]!.GetValue<string>());
            Assert.StartsWith("fc_", c["id"]!.GetValue<string>());
        });

        string Outputs(IEnumerable<JsonNode?> items, string prefix) => string.Join(",", items.Select((c, i) =>
            $$"""{"type":"function_call_output","call_id":"{{c!["call_id"]}}","output":"{{prefix}}{{i}}"}"""));
        var (_, second) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses",
            $$"""{"model":"gpt-5.2-codex","previous_response_id":"{{first["id"]}}","input":[{{Outputs(calls, "a")}}],"tools":{{FlatTools}}}""");
        Assert.Equal(["function_call", "function_call"], second!["output"]!.AsArray().Select(o => o!["type"]!.GetValue<string>()));
        Assert.Equal("""{"city":"Paris","n":10}""", second["output"]![0]!["arguments"]!.GetValue<string>());

        var (response, raw, frames) = await server.StreamAsync("/v1/responses",
            $$"""{"model":"gpt-5.2-codex","previous_response_id":"{{second["id"]}}","input":[{{Outputs(second["output"]!.AsArray(), "b")}}],"tools":{{FlatTools}},"stream":true}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var completed = JsonNode.Parse(frames.Last(f => f.Event == "response.completed").Data!)!["response"]!;
        Assert.Equal("Results: a0 | a1 | b0 | b1", completed["output_text"]!.GetValue<string>());
        Assert.Single(fake.Requests); // one turn, held twice
    }

    [Fact]
    public async Task Streamed_function_calls_are_added_argued_and_done_in_order()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);

        var (_, _, frames) = await server.StreamAsync("/v1/responses",
            $$"""{"model":"gpt-5.2-codex","input":"Weather?","tools":{{FlatTools}},"stream":true}""");

        var events = frames.Where(f => f.Event is not null).Select(f => (f.Event!, JsonNode.Parse(f.Data!)!)).ToList();
        Assert.Equal(events.Select((_, i) => i), events.Select(e => e.Item2["sequence_number"]!.GetValue<int>()));
        var calls = events.SkipWhile(e => e.Item1 != "response.output_item.done").Skip(1).TakeWhile(e => e.Item1 != "response.completed").ToList();
        Assert.Equal(
            ["response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
             "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done"],
            calls.Select(e => e.Item1));
        var added = calls[0].Item2;
        Assert.Equal(1, added["output_index"]!.GetValue<int>()); // after the message at 0
        Assert.Equal("function_call", added["item"]!["type"]!.GetValue<string>());
        Assert.Equal("in_progress", added["item"]!["status"]!.GetValue<string>());
        Assert.Equal("", added["item"]!["arguments"]!.GetValue<string>());
        var itemId = added["item"]!["id"]!.GetValue<string>();
        Assert.Equal(itemId, calls[1].Item2["item_id"]!.GetValue<string>());
        Assert.Equal("""{"city":"Paris","n":0}""", calls[1].Item2["delta"]!.GetValue<string>());
        Assert.Equal("get_weather", calls[2].Item2["name"]!.GetValue<string>());
        Assert.Equal("""{"city":"Paris","n":0}""", calls[2].Item2["arguments"]!.GetValue<string>());
        Assert.Equal("completed", calls[3].Item2["item"]!["status"]!.GetValue<string>());
        Assert.Equal(added["item"]!["call_id"]!.GetValue<string>(), calls[3].Item2["item"]!["call_id"]!.GetValue<string>());
        var response = events[^1].Item2["response"]!;
        Assert.Equal("response.completed", events[^1].Item1);
        Assert.Equal(3, response["output"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_client_that_never_comes_back_gets_its_calls_failed_and_the_turn_ended_at_the_timeout()
    {
        var sawResults = new TaskCompletionSource<IReadOnlyList<ToolResult>>(TaskCreationOptions.RunContinuationsAsynchronously);
        async IAsyncEnumerable<TurnEvent> Script(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var calls = new ToolCallsRequested([new ToolCall(ToolCall.NewId(), "get_weather", "{}")]);
            yield return calls;
            sawResults.TrySetResult(await calls.Results);
            await Task.Delay(Timeout.Infinite, cancellationToken);
            yield return new TurnEnded(TurnEndReason.Stop);
        }
        var fake = new FakeProvider().Then(Script);
        await using var server = await ApiServer.StartAsync(fake, """{"toolResultTimeoutSeconds":1}""");

        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat("""[{"role":"user","content":"Go"}]"""));
        Assert.Equal("tool_calls", body!["choices"]![0]!["finish_reason"]!.GetValue<string>());

        var result = Assert.Single(await sawResults.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(result.IsError);
        Assert.Contains("toolResultTimeoutSeconds", result.Output, StringComparison.Ordinal);
        await fake.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the turn was ended: the provider frees its process or thread
        Assert.Equal(0, server.App.Services.GetRequiredService<HeldTurns>().Count);

        // A late follow-up matches no held turn: a new session gets the whole history, calls and results as structured parts.
        fake.Then((r, ct) => fake.Reply(r, ct, TimeSpan.Zero, "fresh"));
        var call = body["choices"]![0]!["message"]!["tool_calls"]![0]!;
        var (late, lateBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat($$"""
            [{"role":"user","content":"Go"},{"role":"assistant","content":null,"tool_calls":[{{call.ToJsonString()}}]},{"role":"tool","tool_call_id":"{{call["id"]}}","content":"sunny"}]
            """));
        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
        Assert.Equal("fresh", lateBody!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        var replayed = fake.Requests.Last();
        Assert.Null(replayed.SessionId);
        Assert.Equal(["user", "assistant", "tool"], replayed.Messages.Select(m => m.Role));
        var part = Assert.IsType<ToolCallPart>(Assert.Single(replayed.Messages[1].Parts));
        Assert.Equal((call["id"]!.GetValue<string>(), "get_weather", "{}"), (part.CallId, part.Name, part.Arguments));
        Assert.Equal(new ToolResultPart(call["id"]!.GetValue<string>(), "sunny"), Assert.Single(replayed.Messages[2].Parts));
    }

    [Fact]
    public async Task With_parallel_tool_calls_off_the_client_gets_one_call_and_the_model_is_told_the_others_were_refused()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);

        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            Chat("""[{"role":"user","content":"Go"}]""", ""","parallel_tool_calls":false"""));
        var message = body!["choices"]![0]!["message"]!;
        var call = Assert.Single(message["tool_calls"]!.AsArray())!;
        Assert.False(fake.Requests.Single().ParallelToolCalls);

        var (_, final) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat($$"""
            [{"role":"user","content":"Go"},{{message.ToJsonString()}},{"role":"tool","tool_call_id":"{{call!["id"]}}","content":"sunny"}]
            """));
        var text = final!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.StartsWith("Results: sunny | (error) Not run: only one tool call per step", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_follow_up_missing_one_of_the_calls_results_is_a_400_naming_it_and_the_turn_stays_held()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);
        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat("""[{"role":"user","content":"Go"}]"""));
        var message = body!["choices"]![0]!["message"]!;
        var calls = message["tool_calls"]!.AsArray();

        var (response, error) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat($$"""
            [{"role":"user","content":"Go"},{{message.ToJsonString()}},{"role":"tool","tool_call_id":"{{calls[0]!["id"]}}","content":"sunny"}]
            """));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(calls[1]!["id"]!.GetValue<string>(), error!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, server.App.Services.GetRequiredService<HeldTurns>().Count);
    }

    [Theory]
    [InlineData("""[{"type":"function","function":{"name":"get weather"}}]""", "get weather", "tools[0].function.name")]
    [InlineData("""[{"type":"function","function":{"name":"ok","parameters":{"type":"string"}}}]""", "ok", "tools[0].function.parameters")]
    [InlineData("""[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]""", "'a'", "tools[1].function.name")]
    [InlineData("""[{"type":"web_search"}]""", "web_search", "tools[0].type")]
    public async Task An_invalid_tool_is_a_400_naming_it(string tools, string named, string param)
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);

        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            $$"""{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"hi"}],"tools":{{tools}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, body!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(param, body["error"]!["param"]!.GetValue<string>());
        Assert.Empty(fake.Requests);
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"type":"function","function":{"name":"nope"}}""")]
    [InlineData("/v1/responses", """{"type":"function","name":"nope"}""")]
    [InlineData("/v1/responses", "\"sometimes\"")]
    public async Task A_tool_choice_naming_no_declared_tool_is_a_400(string path, string choice)
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var body = path.Contains("chat", StringComparison.Ordinal)
            ? Chat("""[{"role":"user","content":"hi"}]""", $$""","tool_choice":{{choice}}""")
            : $$"""{"model":"gpt-5.2-codex","input":"hi","tools":{{FlatTools}},"tool_choice":{{choice}}}""";

        var (response, error) = await server.SendJsonAsync(HttpMethod.Post, path, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("tool_choice", error!["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Another_key_cannot_answer_a_held_turn()
    {
        var fake = new FakeProvider().Then((r, ct) => CallingModel(r, ct));
        await using var server = await ApiServer.StartAsync(fake);
        var keys = server.App.Services.GetRequiredService<CodexApiServer.Storage.ApiKeyStore>();
        var alice = keys.Create("alice", ["chat"], null, null, null).Key;
        var mallory = keys.Create("mallory", ["chat"], null, null, null).Key;
        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Chat("""[{"role":"user","content":"Go"}]"""), alice);
        var message = body!["choices"]![0]!["message"]!;
        var calls = message["tool_calls"]!.AsArray();
        var followUp = Chat($$"""
            [{"role":"user","content":"Go"},{{message.ToJsonString()}},{"role":"tool","tool_call_id":"{{calls[0]!["id"]}}","content":"x"},{"role":"tool","tool_call_id":"{{calls[1]!["id"]}}","content":"y"}]
            """);

        fake.Then((r, ct) => fake.Reply(r, ct, TimeSpan.Zero, "a new session"));
        var (_, stolen) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", followUp, mallory);

        Assert.Equal("a new session", stolen!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal(1, server.App.Services.GetRequiredService<HeldTurns>().Count);
    }
}
