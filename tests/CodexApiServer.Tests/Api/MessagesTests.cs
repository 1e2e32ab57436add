using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

/// <summary>POST /v1/messages on a scripted provider: Anthropic's shapes, its stream, its errors, tools through the held turn.</summary>
public sealed class MessagesTests
{
    private static string Body(string messages, string extra = "") =>
        $$"""{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":{{messages}}{{extra}}}""";

    private static async Task<(HttpResponseMessage Response, string Raw)> PostAsync(TestServer server, string path, string json, string? apiKey = null, bool external = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("anthropic-beta", "interleaved-thinking-2025-05-14");
        if (apiKey is not null)
        {
            request.Headers.Add("x-api-key", apiKey);
        }
        if (external)
        {
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        }
        var response = await server.Client.SendAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_message_has_every_field_the_sdks_read_with_thinking_text_and_anthropic_usage()
    {
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake, more: []);

        var (response, raw) = await PostAsync(server, "/v1/messages?beta=true",
            Body("""[{"role":"user","content":"Hi"}]""", ""","system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"thinking":{"type":"enabled","budget_tokens":2048},"metadata":{"user_id":"u"},"temperature":0.5,"top_k":5,"stop_sequences":["x"]"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.Contains("request-id"));
        var body = JsonNode.Parse(raw)!;
        Assert.StartsWith("msg_", (string)body["id"]!);
        Assert.Equal("message", (string?)body["type"]);
        Assert.Equal("assistant", (string?)body["role"]);
        Assert.Equal("claude-sonnet-4-5", (string?)body["model"]);
        Assert.Equal("end_turn", (string?)body["stop_reason"]);
        Assert.True(body.AsObject().ContainsKey("stop_sequence"));
        var content = body["content"]!.AsArray();
        Assert.Equal(["thinking", "text"], content.Select(b => (string)b!["type"]!));
        Assert.Equal("Thinking it over.", (string?)content[0]!["thinking"]);
        Assert.False(string.IsNullOrEmpty((string?)content[0]!["signature"]));
        Assert.Equal("Hello world", (string?)content[1]!["text"]);
        // 12 prompt tokens of which 4 cached: Anthropic counts the cached ones apart.
        Assert.Equal((8, 3, 4), ((int)body["usage"]!["input_tokens"]!, (int)body["usage"]!["output_tokens"]!, (int)body["usage"]!["cache_read_input_tokens"]!));
        var sent = Assert.Single(fake.Requests);
        Assert.Equal("Be brief.", sent.Instructions);
        Assert.Equal("low", sent.ReasoningEffort);
    }

    [Fact]
    public async Task The_stream_is_the_event_sequence_the_sdk_accumulates_with_the_real_input_count_up_front()
    {
        var fake = new FakeProvider(ProviderKind.Claude).Then(Script);
        static async IAsyncEnumerable<TurnEvent> Script(TurnRequest r, [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Yield();
            yield return new UsageReport(new TokenUsage(40, 0, CachedInputTokens: 10));
            yield return new ReasoningDelta("hm");
            yield return new TextDelta("Hel");
            yield return new TextDelta("lo");
            yield return new UsageReport(new TokenUsage(40, 7, CachedInputTokens: 10));
            yield return new TurnEnded(TurnEndReason.Stop, "s1");
        }
        await using var server = await ApiServer.StartAsync(fake);

        var (response, raw) = await PostAsync(server, "/v1/messages", Body("""[{"role":"user","content":"Hi"}]""", ""","stream":true"""));

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var frames = ApiServer.ParseSse(raw).Where(f => !f.IsComment).ToList();
        Assert.All(frames, f => Assert.Equal(f.Event, (string?)JsonNode.Parse(f.Data!)!["type"]));
        Assert.Equal(
            ["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
             "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            frames.Select(f => f.Event));
        var events = frames.Select(f => JsonNode.Parse(f.Data!)!).ToList();
        Assert.Equal(30, (int)events[0]["message"]!["usage"]!["input_tokens"]!); // the CLI's count, not 0
        Assert.Equal(0, (int)events[0]["message"]!["usage"]!["output_tokens"]!);
        Assert.Equal("thinking_delta", (string?)events[2]["delta"]!["type"]);
        Assert.Equal("signature_delta", (string?)events[3]["delta"]!["type"]);
        Assert.Equal([1, 1, 1, 1], events.Skip(5).Take(4).Select(e => (int)e["index"]!));
        Assert.Equal("end_turn", (string?)events[9]["delta"]!["stop_reason"]);
        Assert.Equal(7, (int)events[9]["usage"]!["output_tokens"]!);
        Assert.DoesNotContain("[DONE]", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tool_use_comes_back_with_stop_reason_tool_use_and_the_tool_result_resumes_the_same_turn()
    {
        async IAsyncEnumerable<TurnEvent> Script(TurnRequest r, [EnumeratorCancellation] CancellationToken ct)
        {
            var calls = new ToolCallsRequested([new ToolCall(ToolCall.NewId(), r.Tools![0].Name, """{"city":"Paris"}""")]);
            yield return new TextDelta("Checking.");
            yield return calls;
            var results = await calls.Results.WaitAsync(ct);
            var result = ToolCallsRequested.ResultFor(calls.Calls[0], results);
            yield return new TextDelta($"It is {result.Output} (error: {result.IsError})");
            yield return new TurnEnded(TurnEndReason.Stop, "s1");
        }
        var fake = new FakeProvider(ProviderKind.Claude).Then(Script);
        await using var server = await ApiServer.StartAsync(fake);
        const string tools = ""","tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"any"}""";
        const string user = """{"role":"user","content":[{"type":"text","text":"Weather?"}]}""";

        var (_, raw) = await PostAsync(server, "/v1/messages", Body($"[{user}]", tools));
        var first = JsonNode.Parse(raw)!;
        Assert.Equal("tool_use", (string?)first["stop_reason"]);
        var use = first["content"]![1]!;
        Assert.Equal(("tool_use", "get_weather"), ((string)use["type"]!, (string)use["name"]!));
        Assert.Equal("Paris", (string?)use["input"]!["city"]);
        Assert.Equal(ToolChoiceMode.Required, fake.Requests.Single().ToolChoice!.Mode);

        var followUp = $$"""
            [{{user}},{"role":"assistant","content":{{first["content"]!.ToJsonString()}}},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{use["id"]}}","content":[{"type":"text","text":"sunny"}],"is_error":false}]}]
            """;
        var (second, raw2) = await PostAsync(server, "/v1/messages", Body(followUp, tools));

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var final = JsonNode.Parse(raw2)!;
        Assert.Equal("end_turn", (string?)final["stop_reason"]);
        Assert.Equal("It is sunny (error: False)", (string?)final["content"]![0]!["text"]);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task What_claude_code_sends_is_taken_its_system_message_joins_the_instructions_and_its_effort_is_used()
    {
        // The shape claude 2.1.331 sends as a client (fields trimmed): a system message among the messages,
        // adaptive thinking with display, output_config, context_management, a deferred tool, cache_control everywhere.
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake);
        const string body = """
            {"model":"claude-opus-5-5","max_tokens":128000,"stream":false,
             "thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"high"},
             "context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},
             "metadata":{"user_id":"{\"device_id\":\"d\"}"},
             "system":[{"type":"text","text":"x-billing"},{"type":"text","text":"You are a Claude agent.","cache_control":{"type":"ephemeral"}}],
             "tools":[{"name":"Read","description":"Reads","input_schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"file_path":{"type":"string"}},"additionalProperties":false}},
                      {"name":"DeferredToolPlaceholder","description":"d","input_schema":{"type":"object"},"defer_loading":true}],
             "messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>r</system-reminder>"},{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]},
                         {"role":"system","content":[{"type":"text","text":"# Environment","cache_control":{"type":"ephemeral"}}]},
                         {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"earlier"}]},
                         {"role":"user","content":[{"type":"text","text":"again"}]}]}
            """;

        var (response, raw) = await PostAsync(server, "/v1/messages?beta=true", body);

        Assert.True(response.StatusCode == HttpStatusCode.OK, raw);
        var sent = Assert.Single(fake.Requests);
        Assert.Equal("x-billing\n\nYou are a Claude agent.\n\n# Environment", sent.Instructions);
        Assert.Equal("high", sent.ReasoningEffort);
        Assert.Equal(["user", "assistant", "user"], sent.Messages.Select(m => m.Role));
        Assert.Equal(["Read", "DeferredToolPlaceholder"], sent.Tools!.Select(t => t.Name));
    }

    [Fact]
    public async Task A_request_that_extends_an_answered_conversation_continues_its_session_with_only_the_new_message()
    {
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake);
        const string first = """{"role":"user","content":[{"type":"text","text":"one","cache_control":{"type":"ephemeral"}}]}""";
        var (_, raw) = await PostAsync(server, "/v1/messages", Body($"[{first}]", ""","system":"S" """));
        var answer = JsonNode.Parse(raw)!["content"]!.ToJsonString();

        var (response, _) = await PostAsync(server, "/v1/messages", Body($$"""[{"role":"user","content":[{"type":"text","text":"one"}]},{"role":"assistant","content":{{answer}}},{"role":"user","content":"two"}]""", ""","system":"S" """));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var second = fake.Requests.Last();
        Assert.Equal("sess-1", second.SessionId);
        Assert.Equal("two", Assert.IsType<TextPart>(Assert.Single(Assert.Single(second.Messages).Parts)).Text);
    }

    [Theory]
    [InlineData("""{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}""", "max_tokens")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}""", "messages")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"assistant","content":"hi"}]}""", "first message")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}""", "user message")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"tool","content":"hi"}]}""", "role")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}""", "document")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", "web_search_20250305")]
    [InlineData("""{"model":"claude-sonnet-4-5","max_tokens":"ten","messages":[{"role":"user","content":"hi"}]}""", "max_tokens")]
    [InlineData("""not json""", "JSON")]
    public async Task Bad_input_is_a_400_in_anthropics_shape(string body, string named)
    {
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake);

        var (response, raw) = await PostAsync(server, "/v1/messages", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(raw)!;
        Assert.Equal("error", (string?)error["type"]);
        Assert.Equal("invalid_request_error", (string?)error["error"]!["type"]);
        Assert.Contains(named, (string)error["error"]!["message"]!, StringComparison.Ordinal);
        Assert.Empty(fake.Requests);
    }

    [Fact]
    public async Task A_caller_from_outside_without_a_key_gets_anthropics_authentication_error_and_x_api_key_works()
    {
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake);
        var key = server.App.Services.GetRequiredService<CodexApiServer.Storage.ApiKeyStore>().Create("m", ["messages"], null, null, null).Key;

        var (denied, raw) = await PostAsync(server, "/v1/messages", Body("""[{"role":"user","content":"hi"}]"""), external: true);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("authentication_error", (string?)JsonNode.Parse(raw)!["error"]!["type"]);

        var (allowed, _) = await PostAsync(server, "/v1/messages", Body("""[{"role":"user","content":"hi"}]"""), key, external: true);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task Count_tokens_estimates_and_models_answer_in_anthropics_shape_for_an_anthropic_client()
    {
        var fake = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(fake);

        var (counted, raw) = await PostAsync(server, "/v1/messages/count_tokens", """{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"twelve bytes"}]}""");
        Assert.Equal(HttpStatusCode.OK, counted.StatusCode);
        Assert.Equal(3, (int)JsonNode.Parse(raw)!["input_tokens"]!);
        Assert.Empty(fake.Requests);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("anthropic-version", "2023-06-01");
        var models = JsonNode.Parse(await (await server.Client.SendAsync(request)).Content.ReadAsStringAsync())!;
        var first = models["data"]![0]!;
        Assert.Equal("model", (string?)first["type"]);
        Assert.True(DateTimeOffset.TryParse((string?)first["created_at"], out _));
        Assert.NotNull(first["display_name"]);
        Assert.False((bool)models["has_more"]!);
        Assert.Equal((string?)first["id"], (string?)models["first_id"]);
        var (_, openAI) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models");
        Assert.Equal("list", (string?)openAI!["object"]); // without the header: OpenAI's shape
    }

    [Fact]
    public async Task A_model_with_a_context_suffix_routes_as_the_model_and_a_codex_model_goes_to_codex()
    {
        var claude = new FakeProvider(ProviderKind.Claude);
        var codex = new FakeProvider(ProviderKind.Codex);
        await using var server = await ApiServer.StartAsync(codex, more: [claude]);

        var (ok, raw) = await PostAsync(server, "/v1/messages", """{"model":"claude-sonnet-4-5-20250929[1m]","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("claude-sonnet-4-5-20250929", (string?)JsonNode.Parse(raw)!["model"]);
        Assert.Equal("claude-sonnet-4-5-20250929", claude.Requests.Single().Model.CliModel);

        var (viaCodex, _) = await PostAsync(server, "/v1/messages", """{"model":"gpt-5.2-codex","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, viaCodex.StatusCode);
        Assert.Single(codex.Requests);
    }
}
