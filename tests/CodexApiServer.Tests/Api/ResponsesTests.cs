using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

public sealed class ResponsesTests
{
    private const string Simple = """{"model":"gpt-5.2-codex","instructions":"Be brief.","input":"Hi","metadata":{"k":"v"}}""";

    private static readonly string[] RequiredKeys =
        ["id", "object", "created_at", "status", "error", "incomplete_details", "instructions", "model", "tools", "output", "parallel_tool_calls", "metadata", "tool_choice", "temperature", "top_p", "usage", "store", "text", "reasoning"];

    [Fact]
    public async Task Non_streaming_response_has_every_required_key()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", Simple);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        foreach (var key in RequiredKeys)
        {
            Assert.True(body!.AsObject().ContainsKey(key), $"missing {key}: {body.ToJsonString()}");
        }
        Assert.StartsWith("resp_", body!["id"]!.GetValue<string>());
        Assert.Equal("response", body["object"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.Number, body["created_at"]!.GetValueKind());
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.Number, body["completed_at"]!.GetValueKind());
        Assert.True(body["parallel_tool_calls"]!.GetValue<bool>());
        Assert.Equal("Be brief.", body["instructions"]!.GetValue<string>());
        Assert.Equal("v", body["metadata"]!["k"]!.GetValue<string>());
        Assert.Equal("text", body["text"]!["format"]!["type"]!.GetValue<string>());
        var item = Assert.Single(body["output"]!.AsArray())!;
        Assert.Equal("message", item["type"]!.GetValue<string>());
        Assert.StartsWith("msg_", item["id"]!.GetValue<string>());
        Assert.Equal("completed", item["status"]!.GetValue<string>());
        Assert.Equal("assistant", item["role"]!.GetValue<string>());
        var part = Assert.Single(item["content"]!.AsArray())!;
        Assert.Equal("""{"type":"output_text","text":"Hello world","annotations":[],"logprobs":[]}""", part.ToJsonString());
        var usage = body["usage"]!;
        Assert.Equal(12, usage["input_tokens"]!.GetValue<long>());
        Assert.Equal(4, usage["input_tokens_details"]!["cached_tokens"]!.GetValue<long>());
        Assert.Equal(3, usage["output_tokens"]!.GetValue<long>());
        Assert.Equal(1, usage["output_tokens_details"]!["reasoning_tokens"]!.GetValue<long>());
        Assert.Equal(15, usage["total_tokens"]!.GetValue<long>());

        var sent = Assert.Single(fake.Requests);
        Assert.Equal("Be brief.", sent.Instructions);
        Assert.Equal("Hi", Assert.IsType<TextPart>(Assert.Single(Assert.Single(sent.Messages).Parts)).Text);
    }

    [Fact]
    public async Task Streaming_events_come_in_order_with_sequence_numbers_and_stable_ids()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, raw, frames) = await server.StreamAsync("/v1/responses", Simple.Replace("\"input\"", "\"stream\":true,\"input\""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl!.ToString());
        Assert.Equal("no", Assert.Single(response.Headers.GetValues("X-Accel-Buffering")));
        Assert.DoesNotContain("[DONE]", raw);
        Assert.StartsWith("event: response.created\ndata: {", raw);

        var events = frames.Select(f => (f.Event, Data: JsonNode.Parse(f.Data!)!)).ToList();
        Assert.Equal(
            ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
             "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
             "response.output_item.done", "response.completed"],
            events.Select(e => e.Event));
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(events[i].Event, events[i].Data["type"]!.GetValue<string>());
            Assert.Equal(i, events[i].Data["sequence_number"]!.GetValue<int>());
        }
        var created = events[0].Data["response"]!;
        Assert.Equal("in_progress", created["status"]!.GetValue<string>());
        Assert.Empty(created["output"]!.AsArray());
        Assert.Null(created["usage"]);
        var id = created["id"]!.GetValue<string>();

        var added = events[2].Data;
        Assert.Equal(0, added["output_index"]!.GetValue<int>());
        Assert.Equal("""{"type":"message","id":"ITEM","status":"in_progress","role":"assistant","content":[]}""",
            added["item"]!.ToJsonString().Replace(added["item"]!["id"]!.GetValue<string>(), "ITEM"));
        var itemId = added["item"]!["id"]!.GetValue<string>();
        Assert.Equal("""{"type":"output_text","text":"","annotations":[],"logprobs":[]}""", events[3].Data["part"]!.ToJsonString());
        foreach (var e in events.Skip(3).Take(5))
        {
            Assert.Equal(itemId, e.Data["item_id"]!.GetValue<string>());
            Assert.Equal(0, e.Data["output_index"]!.GetValue<int>());
            Assert.Equal(0, e.Data["content_index"]!.GetValue<int>());
        }
        Assert.Equal("Hello", events[4].Data["delta"]!.GetValue<string>());
        Assert.Empty(events[4].Data["logprobs"]!.AsArray());
        Assert.Equal("Hello world", events[6].Data["text"]!.GetValue<string>());
        Assert.Equal("Hello world", events[7].Data["part"]!["text"]!.GetValue<string>());
        Assert.Equal("completed", events[8].Data["item"]!["status"]!.GetValue<string>());
        Assert.Equal(itemId, events[8].Data["item"]!["id"]!.GetValue<string>());
        var done = events[9].Data["response"]!;
        Assert.Equal(id, done["id"]!.GetValue<string>());
        Assert.Equal("completed", done["status"]!.GetValue<string>());
        Assert.Equal(itemId, done["output"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(15, done["usage"]!["total_tokens"]!.GetValue<long>());

        // The streamed response is stored as it ended.
        var (_, got) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses/{id}");
        Assert.Equal(done.ToJsonString(), got!.ToJsonString());
    }

    [Fact]
    public async Task Reasoning_becomes_a_summary_item_before_the_message_when_asked_for()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (_, _, frames) = await server.StreamAsync("/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi","reasoning":{"effort":"high","summary":"auto"}}""");
        Assert.Equal(
            ["response.created", "response.in_progress",
             "response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
             "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
             "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
             "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"],
            frames.Select(f => f.Event));
        var events = frames.Select(f => JsonNode.Parse(f.Data!)!).ToList();
        Assert.Equal("reasoning", events[2]["item"]!["type"]!.GetValue<string>());
        Assert.Equal(0, events[2]["output_index"]!.GetValue<int>());
        Assert.Equal("Thinking it over.", events[5]["text"]!.GetValue<string>());
        Assert.Equal(1, events[8]["output_index"]!.GetValue<int>());
        Assert.All(events.Skip(9).Take(6), e => Assert.Equal(1, e["output_index"]!.GetValue<int>()));
        var output = events[^1]["response"]!["output"]!.AsArray();
        Assert.Equal(["reasoning", "message"], output.Select(o => o!["type"]!.GetValue<string>()));
        Assert.Equal("""[{"type":"summary_text","text":"Thinking it over."}]""", output[0]!["summary"]!.ToJsonString());
        Assert.Equal("Hello world", events[^1]["response"]!["output_text"]!.GetValue<string>());

        // Without reasoning.summary the reasoning stays out of the output.
        var (_, plain) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""");
        Assert.Equal(["message"], plain!["output"]!.AsArray().Select(o => o!["type"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_failure_mid_stream_is_an_error_event_then_response_failed()
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(new TextDelta("part"), TurnEnded.Failed(new ProviderError(ProviderErrorKind.Upstream, "upstream 500")));
        await using var server = await ApiServer.StartAsync(fake);
        var (_, _, frames) = await server.StreamAsync("/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi"}""");
        Assert.Equal("error", frames[^2].Event);
        var error = JsonNode.Parse(frames[^2].Data!)!;
        Assert.Equal("server_error", error["code"]!.GetValue<string>());
        Assert.Contains("upstream 500", error["message"]!.GetValue<string>());
        Assert.True(error.AsObject().ContainsKey("param"));
        Assert.Equal(frames.Count - 2, error["sequence_number"]!.GetValue<int>());
        Assert.Equal("response.failed", frames[^1].Event);
        var failed = JsonNode.Parse(frames[^1].Data!)!["response"]!;
        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        Assert.Equal("server_error", failed["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_slow_stream_gets_keep_alive_comments()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(900), "late");
        await using var server = await ApiServer.StartAsync(fake, keepAlive: TimeSpan.FromMilliseconds(200));
        var (_, raw, frames) = await server.StreamAsync("/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi"}""");
        Assert.Contains("\n\n: keep-alive\n\n", raw);
        Assert.Equal("response.completed", frames[^1].Event);
        Assert.Equal("response.created", frames[0].Event);
    }

    [Theory]
    [InlineData("""{"model":"gpt-5.2-codex"}""", 400, "input", "missing_required_parameter")]
    [InlineData("""{"model":"gpt-5.2-codex","input":"Hi","reasoning":{"effort":"huge"}}""", 400, "reasoning.effort", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","input":"Hi","metadata":{"a":1}}""", 400, "metadata.a", "invalid_type")]
    [InlineData("""{"model":"gpt-5.2-codex","input":[{"role":"wizard","content":"Hi"}]}""", 400, "input[0].role", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","input":"Hi","previous_response_id":"resp_missing"}""", 404, "previous_response_id", "not_found")]
    [InlineData("""{"model":"gpt-5.2-codex","input":"Hi","text":{"format":{"type":"xml"}}}""", 400, "text.format.type", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","input":"Hi","background":true,"store":false}""", 400, "background", "invalid_value")]
    public async Task Bad_requests_are_openai_errors_naming_the_field(string json, int status, string param, string code)
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", json);
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(param, ErrorAssert.IsOpenAIError(body, code)["param"]?.GetValue<string>());
        Assert.Empty(fake.Requests);
    }

    [Fact]
    public async Task Too_many_metadata_keys_is_400()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var metadata = new JsonObject();
        for (var i = 0; i < 17; i++)
        {
            metadata["k" + i] = "v";
        }
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", new JsonObject { ["model"] = "gpt-5.2-codex", ["input"] = "Hi", ["metadata"] = metadata }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("metadata", ErrorAssert.IsOpenAIError(body)["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Input_items_images_and_json_schema_reach_the_provider()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """
            {"model":"gpt-5.2-codex","reasoning":{"effort":"low"},"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}},
             "input":[{"role":"developer","content":"Dev."},{"type":"message","role":"user","content":[{"type":"input_text","text":"What is it?"},{"type":"input_image","image_url":"data:image/gif;base64,R0lGOA=="}]}]}
            """);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("json_schema", body!["text"]!["format"]!["type"]!.GetValue<string>());
        Assert.Equal("low", body["reasoning"]!["effort"]!.GetValue<string>());
        var sent = Assert.Single(fake.Requests);
        Assert.Equal("Dev.", sent.Instructions);
        Assert.Equal("low", sent.ReasoningEffort);
        Assert.Equal("integer", sent.OutputSchema!.Value.GetProperty("properties").GetProperty("n").GetProperty("type").GetString());
        var message = Assert.Single(sent.Messages);
        Assert.Equal("What is it?", Assert.IsType<TextPart>(message.Parts[0]).Text);
        Assert.Equal("image/gif", Assert.IsType<ImageDataPart>(message.Parts[1]).MediaType);
    }

    [Fact]
    public async Task Previous_response_id_continues_the_session_and_replays_when_it_is_gone()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (_, first) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""");
        var firstId = first!["id"]!.GetValue<string>();
        var (second, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", $$"""{"model":"gpt-5.2-codex","input":"More","previous_response_id":"{{firstId}}"}""");
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(firstId, body!["previous_response_id"]!.GetValue<string>());
        var requests = fake.Requests.ToArray();
        Assert.Equal("sess-1", requests[1].SessionId);
        Assert.Equal("More", Assert.IsType<TextPart>(Assert.Single(Assert.Single(requests[1].Messages).Parts)).Text);

        // The provider lost the session: the chain is replayed in a fresh one.
        fake.Script = (r, ct) => r.SessionId is null
            ? fake.Reply(r, ct, TimeSpan.Zero, "Replayed")
            : ApiServer.Events(TurnEnded.Failed(new ProviderError(ProviderErrorKind.SessionNotFound, "gone")));
        var secondId = body["id"]!.GetValue<string>();
        var (third, thirdBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", $$"""{"model":"gpt-5.2-codex","input":"Again","previous_response_id":"{{secondId}}"}""");
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.Equal("Replayed", thirdBody!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        requests = fake.Requests.ToArray();
        Assert.Equal(4, requests.Length);
        Assert.Equal("sess-1", requests[2].SessionId);
        Assert.Null(requests[3].SessionId);
        Assert.Equal(
            ["user:Hi", "assistant:Hello world", "user:More", "assistant:Hello world", "user:Again"],
            requests[3].Messages.Select(m => m.Role + ":" + string.Concat(m.Parts.OfType<TextPart>().Select(p => p.Text))));
    }

    [Fact]
    public async Task List_get_input_items_and_delete()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (_, b) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", $$"""{"model":"gpt-5.2-codex","input":[{"role":"user","content":"q{{i}}"},{"role":"user","content":"r{{i}}"}]}""");
            ids.Add(b!["id"]!.GetValue<string>());
            // Distinct created_at seconds, so the order is the creation order: wait for the next second.
            var createdAt = b["created_at"]!.GetValue<long>();
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => DateTimeOffset.UtcNow.ToUnixTimeSeconds() > createdAt, TimeSpan.FromSeconds(3)));
        }
        var (_, notStored) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"secret","store":false}""");
        var (gone, _) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + notStored!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);

        var (_, page1) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses?limit=2");
        Assert.Equal("list", page1!["object"]!.GetValue<string>());
        Assert.Equal([ids[2], ids[1]], page1["data"]!.AsArray().Select(d => d!["id"]!.GetValue<string>()));
        Assert.True(page1["has_more"]!.GetValue<bool>());
        Assert.Equal(ids[2], page1["first_id"]!.GetValue<string>());
        Assert.Equal(ids[1], page1["last_id"]!.GetValue<string>());
        var (_, page2) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses?limit=2&after={ids[1]}");
        Assert.Equal([ids[0]], page2!["data"]!.AsArray().Select(d => d!["id"]!.GetValue<string>()));
        Assert.False(page2["has_more"]!.GetValue<bool>());
        var (_, asc) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses?order=asc");
        Assert.Equal(ids, asc!["data"]!.AsArray().Select(d => d!["id"]!.GetValue<string>()));
        var (badLimit, badBody) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
        Assert.Equal("limit", ErrorAssert.IsOpenAIError(badBody)["param"]!.GetValue<string>());

        var (getResponse, got) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + ids[0]);
        Assert.Equal(HttpStatusCode.OK, getResponse.StatusCode);
        Assert.Equal("completed", got!["status"]!.GetValue<string>());

        var (_, items) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses/{ids[0]}/input_items");
        Assert.Equal("list", items!["object"]!.GetValue<string>());
        var data = items["data"]!.AsArray();
        Assert.Equal(["r0", "q0"], data.Select(d => d!["content"]![0]!["text"]!.GetValue<string>()));
        Assert.All(data, d =>
        {
            Assert.Equal("message", d!["type"]!.GetValue<string>());
            Assert.Equal("user", d["role"]!.GetValue<string>());
            Assert.Equal("input_text", d["content"]![0]!["type"]!.GetValue<string>());
        });
        var (_, itemsAsc) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses/{ids[0]}/input_items?order=asc&limit=1");
        Assert.Equal("q0", itemsAsc!["data"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.True(itemsAsc["has_more"]!.GetValue<bool>());

        var (deleted, deletedBody) = await server.SendJsonAsync(HttpMethod.Delete, "/v1/responses/" + ids[0]);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal($$"""{"id":"{{ids[0]}}","object":"response","deleted":true}""", deletedBody!.ToJsonString());
        var (after, afterBody) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + ids[0]);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        ErrorAssert.IsOpenAIError(afterBody, "not_found");
        var (again, _) = await server.SendJsonAsync(HttpMethod.Delete, "/v1/responses/" + ids[0]);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task Background_returns_at_once_runs_on_and_is_pollable()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(300), "Back", "ground");
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi","background":true}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(body!["status"]!.GetValue<string>(), new[] { "queued", "in_progress" });
        Assert.True(body["background"]!.GetValue<bool>());
        var id = body["id"]!.GetValue<string>();

        JsonNode? polled = null;
        for (var i = 0; i < 100; i++)
        {
            (_, polled) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + id);
            if (polled!["status"]!.GetValue<string>() == "completed")
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal("completed", polled!["status"]!.GetValue<string>());
        Assert.Equal("Background", polled["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cancel_stops_a_background_turn()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromSeconds(30), "never");
        await using var server = await ApiServer.StartAsync(fake);
        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi","background":true}""");
        var id = body!["id"]!.GetValue<string>();
        while (fake.Requests.IsEmpty)
        {
            await Task.Delay(20);
        }
        var (cancel, cancelled) = await server.SendJsonAsync(HttpMethod.Post, $"/v1/responses/{id}/cancel");
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", cancelled!["status"]!.GetValue<string>());
        Assert.True(Assert.Single(fake.Tokens).IsCancellationRequested);
        var (_, polled) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + id);
        Assert.Equal("cancelled", polled!["status"]!.GetValue<string>());

        // Cancelling what has finished is a 400; an unknown id a 404.
        fake.Script = null;
        var (_, finished) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""");
        var (late, _) = await server.SendJsonAsync(HttpMethod.Post, $"/v1/responses/{finished!["id"]!.GetValue<string>()}/cancel");
        Assert.Equal(HttpStatusCode.BadRequest, late.StatusCode);
        var (unknown, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses/resp_nope/cancel");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Cancel_stops_a_streaming_response_in_flight()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(200), Enumerable.Repeat("x", 300).ToArray());
        await using var server = await ApiServer.StartAsync(fake);
        using var response = await server.PostAsync("/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi"}""");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? id = null;
        while (id is null && await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal) && JsonNode.Parse(line[6..])!["type"]!.GetValue<string>() == "response.created")
            {
                id = JsonNode.Parse(line[6..])!["response"]!["id"]!.GetValue<string>();
            }
        }
        Assert.NotNull(id);
        var (cancel, cancelled) = await server.SendJsonAsync(HttpMethod.Post, $"/v1/responses/{id}/cancel");
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", cancelled!["status"]!.GetValue<string>());
        Assert.True(Assert.Single(fake.Tokens).IsCancellationRequested);

        var rest = ApiServer.ParseSse((await reader.ReadToEndAsync()).TrimStart('\n'));
        Assert.Equal("response.failed", rest[^1].Event);
        Assert.Equal("cancelled", JsonNode.Parse(rest[^1].Data!)!["response"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Client_disconnect_cancels_the_turn_and_the_stored_response_says_cancelled()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(100), Enumerable.Repeat("tick ", 300).ToArray());
        await using var server = await ApiServer.StartAsync(fake);
        var response = await server.PostAsync("/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi"}""");
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? id = null;
        while (id is null && await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                id = JsonNode.Parse(line[6..])!["response"]?["id"]?.GetValue<string>();
            }
        }
        response.Dispose();
        reader.Dispose();

        await fake.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(Assert.Single(fake.Tokens).IsCancellationRequested);
        JsonNode? stored = null;
        for (var i = 0; i < 50; i++)
        {
            (_, stored) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses/" + id);
            if (stored!["status"]!.GetValue<string>() != "in_progress")
            {
                break;
            }
            await Task.Delay(50);
        }
        Assert.Equal("cancelled", stored!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_turn_past_its_time_limit_is_incomplete()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(400), "a", "b", "c", "d", "e", "f", "g", "h");
        await using var server = await ApiServer.StartAsync(fake, """{"turnTimeoutSeconds":1}""");
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("incomplete", body!["status"]!.GetValue<string>());
        Assert.Equal("max_output_tokens", body["incomplete_details"]!["reason"]!.GetValue<string>());
        Assert.Equal("incomplete", body["output"]![0]!["status"]!.GetValue<string>());
        Assert.StartsWith("a", body["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task Not_logged_in_is_a_plain_503_even_when_streaming()
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(TurnEnded.Failed(new ProviderError(ProviderErrorKind.NotAuthenticated, "Claude is not logged in.", "claude, then /login")));
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","stream":true,"input":"Hi"}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("false", Assert.Single(response.Headers.GetValues("x-should-retry")));
        Assert.Contains("/login", ErrorAssert.IsOpenAIError(body, "provider_not_authenticated")["message"]!.GetValue<string>());
    }
}
