using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Api;

public sealed class ChatCompletionsTests
{
    private const string Simple = """{"model":"gpt-5.2-codex","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}""";

    [Fact]
    public async Task Non_streaming_reply_has_every_key_clients_read()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.StartsWith("chatcmpl-", body!["id"]!.GetValue<string>());
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.Number, body["created"]!.GetValueKind());
        Assert.InRange(body["created"]!.GetValue<long>(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal("gpt-5.2-codex", body["model"]!.GetValue<string>());
        Assert.False(body.AsObject().ContainsKey("system_fingerprint"));
        var choice = Assert.Single(body["choices"]!.AsArray())!;
        Assert.Equal(0, choice["index"]!.GetValue<int>());
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        Assert.True(choice.AsObject().ContainsKey("logprobs"));
        Assert.Null(choice["logprobs"]);
        var message = choice["message"]!;
        Assert.Equal("assistant", message["role"]!.GetValue<string>());
        Assert.Equal("Hello world", message["content"]!.GetValue<string>());
        Assert.True(message.AsObject().ContainsKey("refusal"));
        Assert.Empty(message["annotations"]!.AsArray());
        Assert.Equal("Thinking it over.", message["reasoning_content"]!.GetValue<string>());
        var usage = body["usage"]!;
        Assert.Equal(12, usage["prompt_tokens"]!.GetValue<long>());
        Assert.Equal(3, usage["completion_tokens"]!.GetValue<long>());
        Assert.Equal(15, usage["total_tokens"]!.GetValue<long>());
        Assert.Equal(4, usage["prompt_tokens_details"]!["cached_tokens"]!.GetValue<long>());
        Assert.Equal(1, usage["completion_tokens_details"]!["reasoning_tokens"]!.GetValue<long>());

        var sent = Assert.Single(fake.Requests);
        Assert.Equal("Be brief.", sent.Instructions);
        var user = Assert.Single(sent.Messages);
        Assert.Equal("user", user.Role);
        Assert.Equal("Hi", Assert.IsType<TextPart>(Assert.Single(user.Parts)).Text);
        Assert.Null(sent.SessionId);

        // Stored, with the provider's session, as a chat.completion row.
        var stored = server.App.Services.GetRequiredService<ResponseStore>().Get(body["id"]!.GetValue<string>(), "chat.completion");
        Assert.NotNull(stored);
        Assert.Equal("sess-1", stored!.SessionId);
    }

    [Fact]
    public async Task Completions_are_stored_and_retrievable_unless_store_is_false_and_usage_rows_get_the_tokens()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
        var (got, stored) = await server.SendJsonAsync(HttpMethod.Get, "/v1/chat/completions/" + body!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, got.StatusCode);
        Assert.Equal(body.ToJsonString(), stored!.ToJsonString());

        var (_, unstored) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple.Replace("\"messages\"", "\"store\":false,\"messages\""));
        var (missing, error) = await server.SendJsonAsync(HttpMethod.Get, "/v1/chat/completions/" + unstored!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        ErrorAssert.IsOpenAIError(error, "not_found");

        // The usage row is written after the response: wait for it.
        using var connection = server.App.Services.GetRequiredService<Database>().Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT model, provider, input_tokens, output_tokens, cached_tokens, reasoning_tokens FROM usage_logs WHERE endpoint = 'POST /v1/chat/completions' ORDER BY id LIMIT 1";
        for (var i = 0; i < 50; i++)
        {
            using var reader = command.ExecuteReader();
            if (reader.Read())
            {
                Assert.Equal("gpt-5.2-codex", reader.GetString(0));
                Assert.Equal("codex", reader.GetString(1));
                Assert.Equal([12L, 3L, 4L, 1L], new[] { reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5) });
                return;
            }
            await Task.Delay(50);
        }
        Assert.Fail("no usage row for the chat completion");
    }

    [Fact]
    public async Task Streaming_bytes_follow_the_chunk_protocol()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, raw, frames) = await server.StreamAsync("/v1/chat/completions", Simple.Replace("\"messages\"", "\"stream\":true,\"messages\""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl!.ToString());
        Assert.Equal("no", Assert.Single(response.Headers.GetValues("X-Accel-Buffering")));
        Assert.Single(response.Headers.GetValues("x-request-id"));

        Assert.All(frames, f => Assert.Null(f.Event));
        Assert.Equal("[DONE]", frames[^1].Data);
        var chunks = frames.Where(f => !f.IsComment).SkipLast(1).Select(f => JsonNode.Parse(f.Data!)!).ToList();
        Assert.Equal(5, chunks.Count);
        var id = chunks[0]["id"]!.GetValue<string>();
        var created = chunks[0]["created"]!.GetValue<long>();
        Assert.All(chunks, c =>
        {
            Assert.Equal(id, c["id"]!.GetValue<string>());
            Assert.Equal(created, c["created"]!.GetValue<long>());
            Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>());
            Assert.Null(c["usage"]);
            Assert.Null(c["error"]);
        });
        // The exact first frame: role once, empty content, explicit nulls.
        Assert.StartsWith(
            $$"""data: {"id":"{{id}}","object":"chat.completion.chunk","created":{{created}},"model":"gpt-5.2-codex","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}""" + "\n\n",
            raw);
        // Reasoning as reasoning_content (what reasoning-aware clients read), then the answer.
        Assert.Equal("""{"reasoning_content":"Thinking it over."}""", chunks[1]["choices"]![0]!["delta"]!.ToJsonString());
        Assert.Equal("""{"content":"Hello"}""", chunks[2]["choices"]![0]!["delta"]!.ToJsonString());
        Assert.Equal("""{"content":" world"}""", chunks[3]["choices"]![0]!["delta"]!.ToJsonString());
        Assert.Equal("""{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}""", chunks[4]["choices"]![0]!.ToJsonString());
        Assert.EndsWith("\n\ndata: [DONE]\n\n", raw);
    }

    [Fact]
    public async Task A_turn_without_reasoning_has_no_reasoning_content_anywhere()
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(new TextDelta("Hi"), new TurnEnded(TurnEndReason.Stop, "s"));
        await using var server = await ApiServer.StartAsync(fake);
        var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
        Assert.False(body!["choices"]![0]!["message"]!.AsObject().ContainsKey("reasoning_content"));
        var (_, raw, _) = await server.StreamAsync("/v1/chat/completions", Simple.Replace("\"messages\"", "\"stream\":true,\"messages\""));
        Assert.DoesNotContain("reasoning_content", raw, StringComparison.Ordinal);
        Assert.Contains("\"content\":\"Hi\"", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_chunk_comes_only_with_include_usage_just_before_done()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (_, _, frames) = await server.StreamAsync("/v1/chat/completions",
            """{"model":"gpt-5.2-codex","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal("[DONE]", frames[^1].Data);
        var usageChunk = JsonNode.Parse(frames[^2].Data!)!;
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(15, usageChunk["usage"]!["total_tokens"]!.GetValue<long>());
        Assert.Equal(JsonNode.Parse(frames[0].Data!)!["id"]!.GetValue<string>(), usageChunk["id"]!.GetValue<string>());
        Assert.Equal("stop", JsonNode.Parse(frames[^3].Data!)!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Single(frames, f => f.Data!.Contains("\"usage\""));
    }

    [Theory]
    [InlineData("""{"model":"gpt-5.2-codex","n":2,"messages":[{"role":"user","content":"Hi"}]}""", 400, "n", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","messages":[{"role":"robot","content":"Hi"}]}""", 400, "messages[0].role", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex"}""", 400, "messages", "missing_required_parameter")]
    [InlineData("""{"model":"gpt 5; rm -rf /","messages":[{"role":"user","content":"Hi"}]}""", 400, "model", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","reasoning_effort":"extreme","messages":[{"role":"user","content":"Hi"}]}""", 400, "reasoning_effort", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]}""", 400, "messages[0].content[0].image_url.url", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","messages":[{"role":"user","content":42}]}""", 400, "messages[0].content", "invalid_type")]
    [InlineData("""{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}""", 400, "response_format.type", "invalid_value")]
    [InlineData("""{"model":"gpt-5.2-codex","stream":"yes","messages":[{"role":"user","content":"x"}]}""", 400, "stream", "invalid_type")]
    public async Task Bad_requests_are_openai_errors_naming_the_field(string json, int status, string param, string code)
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", json);
        Assert.Equal(status, (int)response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, code);
        Assert.Equal(param, error["param"]?.GetValue<string>());
        Assert.Empty(fake.Requests);
    }

    [Fact]
    public async Task Content_parts_images_roles_and_structured_output_reach_the_provider()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var png = Convert.ToBase64String([0x89, 0x50, 0x4E, 0x47]);
        var (response, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", """
            {"model":"gpt-5.2-codex","temperature":0.2,"max_tokens":100,"tools":[],"user":"u","seed":1,"stop":["x"],
             "reasoning_effort":"high","response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object","properties":{"a":{"type":"string"}}}}},
             "messages":[{"role":"developer","content":"Dev."},{"role":"user","content":[{"type":"text","text":"Look"},
               {"type":"image_url","image_url":{"url":"https://example.com/a.png"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,PNGDATA"}}]},
               {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
               {"role":"tool","tool_call_id":"c1","content":"42"},{"role":"user","content":"And?"}]}
            """.Replace("PNGDATA", png));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(fake.Requests);
        Assert.Equal("Dev.", sent.Instructions);
        Assert.Equal("high", sent.ReasoningEffort);
        Assert.Equal("object", sent.OutputSchema!.Value.GetProperty("type").GetString());
        Assert.Equal(["user", "assistant", "tool", "user"], sent.Messages.Select(m => m.Role));
        var parts = sent.Messages[0].Parts;
        Assert.Equal("Look", Assert.IsType<TextPart>(parts[0]).Text);
        Assert.Equal("https://example.com/a.png", Assert.IsType<ImageUrlPart>(parts[1]).Url);
        var data = Assert.IsType<ImageDataPart>(parts[2]);
        Assert.Equal("image/png", data.MediaType);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, data.Data);
    }

    [Fact]
    public async Task A_keep_alive_comment_is_sent_while_a_turn_is_silent()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(900), "late");
        await using var server = await ApiServer.StartAsync(fake, keepAlive: TimeSpan.FromMilliseconds(200));
        var (_, raw, frames) = await server.StreamAsync("/v1/chat/completions", """{"model":"gpt-5.2-codex","stream":true,"messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Contains("\n\n: keep-alive\n\n", raw);
        Assert.Contains(frames, f => f.IsComment);
        Assert.Contains(frames, f => f.Data is not null && f.Data.Contains("\"late\""));
        Assert.Equal("[DONE]", frames[^1].Data);
    }

    [Fact]
    public async Task Each_stream_event_goes_out_as_one_http_chunk()
    {
        // Kestrel sends every write to the body as its own chunk: an event written in pieces would
        // reach proxies and clients as several packets ("data: ", the JSON, the blank line).
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(20), "a", "b");
        await using var server = await ApiServer.StartAsync(fake);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var body = """{"model":"gpt-5.2-codex","stream":true,"messages":[{"role":"user","content":"Hi"}]}""";
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(
            $"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"));
        var raw = await new StreamReader(stream).ReadToEndAsync();

        Assert.Contains("Transfer-Encoding: chunked", raw);
        var chunks = new List<string>();
        var at = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        while (true)
        {
            var sizeEnd = raw.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(raw[at..sizeEnd], 16);
            if (size == 0)
            {
                break;
            }
            chunks.Add(raw.Substring(sizeEnd + 2, size));
            at = sizeEnd + 2 + size + 2;
        }
        Assert.Equal(6, chunks.Count); // role, reasoning, "a", "b", finish, [DONE]
        Assert.All(chunks, c => Assert.Matches("^data: [^\n]+\n\n$", c));
        Assert.Equal("data: [DONE]\n\n", chunks[^1]);
    }

    [Fact]
    public async Task Client_disconnect_cancels_the_provider_turn()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(100), Enumerable.Repeat("tick ", 200).ToArray());
        await using var server = await ApiServer.StartAsync(fake);
        using var cts = new CancellationTokenSource();
        var response = await server.PostAsync("/v1/chat/completions", """{"model":"gpt-5.2-codex","stream":true,"messages":[{"role":"user","content":"Hi"}]}""", cts.Token);
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        var buffer = new byte[256];
        Assert.True(await stream.ReadAsync(buffer, cts.Token) > 0);
        response.Dispose();
        await cts.CancelAsync();

        await fake.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(Assert.Single(fake.Tokens).IsCancellationRequested);
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        var fake = new FakeProvider();
        var release = new TaskCompletionSource();
        fake.Script = (r, ct) => Slow(release.Task, ct);
        await using var server = await ApiServer.StartAsync(fake, """{"maxConcurrentTurns":1,"queueTimeoutSeconds":1}""");
        var first = server.PostAsync("/v1/chat/completions", """{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"one"}]}""");
        while (fake.Requests.IsEmpty)
        {
            await Task.Delay(20);
        }
        var watch = Stopwatch.StartNew();
        var (second, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", """{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"two"}]}""");
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(800), TimeSpan.FromSeconds(10));
        ErrorAssert.IsOpenAIError(body, "rate_limit_exceeded");
        // It says what happened: the wait ran out, not a full queue.
        var message = (string)body!["error"]!["message"]!;
        Assert.Contains("stayed busy for the whole 1 s", message);
        Assert.Contains("queueTimeoutSeconds", message);
        Assert.Contains("maxConcurrentTurns", message);
        Assert.True(int.Parse(Assert.Single(second.Headers.GetValues("retry-after"))) >= 1);
        Assert.Single(second.Headers.GetValues("retry-after-ms"));
        release.SetResult();
        using var firstResponse = await first;
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        Assert.Single(fake.Requests);
        Assert.Equal(1, fake.MaxRunning);
    }

    [Fact]
    public async Task A_request_beyond_the_queue_length_gets_429_at_once_saying_the_queue_is_full()
    {
        var fake = new FakeProvider();
        var release = new TaskCompletionSource();
        fake.Script = (r, ct) => Slow(release.Task, ct);
        await using var server = await ApiServer.StartAsync(fake, """{"maxConcurrentTurns":1,"queueTimeoutSeconds":30}""", maxQueueLength: 1);
        const string Body = """{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"one"}]}""";
        var running = server.PostAsync("/v1/chat/completions", Body);
        while (fake.Requests.IsEmpty)
        {
            await Task.Delay(20);
        }
        var queued = server.PostAsync("/v1/chat/completions", Body);
        var router = server.App.Services.GetRequiredService<ProviderRouter>();
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => router.QueuedTurns(ProviderKind.Codex) == 1, TimeSpan.FromSeconds(10)), "the second request never queued");

        var watch = Stopwatch.StartNew();
        var (third, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body);

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"waited {watch.Elapsed}");
        ErrorAssert.IsOpenAIError(body, "rate_limit_exceeded");
        Assert.Contains("queue for codex is full: 1 turns are running (maxConcurrentTurns) and 1 more are waiting", (string)body!["error"]!["message"]!);
        release.SetResult();
        using var one = await running;
        using var two = await queued;
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(HttpStatusCode.OK, two.StatusCode);
    }

    private static async IAsyncEnumerable<TurnEvent> Slow(Task release, [EnumeratorCancellation] CancellationToken ct)
    {
        await release.WaitAsync(ct);
        yield return new TextDelta("done");
        yield return new TurnEnded(TurnEndReason.Stop, null);
    }

    [Fact]
    public async Task A_turn_past_its_time_limit_ends_with_finish_reason_length()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => fake.Reply(r, ct, TimeSpan.FromMilliseconds(400), "a", "b", "c", "d", "e", "f", "g", "h");
        await using var server = await ApiServer.StartAsync(fake, """{"turnTimeoutSeconds":1}""");
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", """{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("length", body!["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.StartsWith("a", body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.True(Assert.Single(fake.Tokens).IsCancellationRequested);
    }

    [Fact]
    public async Task A_provider_that_ignores_cancellation_is_left_behind_and_its_slot_freed()
    {
        var fake = new FakeProvider();
        var never = new TaskCompletionSource();
        fake.Script = (_, _) => Stubborn(never.Task);
        await using var server = await ApiServer.StartAsync(fake, """{"turnTimeoutSeconds":1,"maxConcurrentTurns":1,"queueTimeoutSeconds":5}""", cancelGrace: TimeSpan.FromMilliseconds(300));
        for (var i = 0; i < 2; i++)
        {
            var watch = Stopwatch.StartNew();
            var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("length", body!["choices"]![0]!["finish_reason"]!.GetValue<string>());
            Assert.Equal("stuck", body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
            Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(4));
        }
        never.SetResult();
    }

    private static async IAsyncEnumerable<TurnEvent> Stubborn(Task never)
    {
        yield return new TextDelta("stuck");
        await never;
    }

    [Fact]
    public async Task A_cli_that_is_not_logged_in_is_503_without_retries_for_both_modes()
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(TurnEnded.Failed(new ProviderError(ProviderErrorKind.NotAuthenticated, "Codex is not logged in.", "codex login")));
        await using var server = await ApiServer.StartAsync(fake);
        foreach (var stream in new[] { "false", "true" })
        {
            var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", $$"""{"model":"gpt-5.2-codex","stream":{{stream}},"messages":[{"role":"user","content":"Hi"}]}""");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("false", Assert.Single(response.Headers.GetValues("x-should-retry")));
            var error = ErrorAssert.IsOpenAIError(body, "provider_not_authenticated");
            Assert.Contains("codex login", error["message"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData(ProviderErrorKind.NotInstalled, 503, "provider_unavailable", "false")]
    [InlineData(ProviderErrorKind.Busy, 429, "rate_limit_exceeded", null)]
    [InlineData(ProviderErrorKind.Upstream, 502, "server_error", null)]
    [InlineData(ProviderErrorKind.Crashed, 502, "server_error", null)]
    [InlineData(ProviderErrorKind.InvalidRequest, 400, "invalid_value", null)]
    [InlineData(ProviderErrorKind.ContextLengthExceeded, 400, "context_length_exceeded", null)]
    public async Task Provider_errors_map_to_http(ProviderErrorKind kind, int status, string code, string? shouldRetry)
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(TurnEnded.Failed(new ProviderError(kind, "it went wrong", RetryAfter: TimeSpan.FromSeconds(3))));
        await using var server = await ApiServer.StartAsync(fake);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains("it went wrong", ErrorAssert.IsOpenAIError(body, code)["message"]!.GetValue<string>());
        Assert.Equal(shouldRetry, response.Headers.TryGetValues("x-should-retry", out var v) ? Assert.Single(v) : null);
        if (status == 429)
        {
            Assert.Equal("3", Assert.Single(response.Headers.GetValues("retry-after")));
            Assert.Equal("3000", Assert.Single(response.Headers.GetValues("retry-after-ms")));
        }
    }

    [Fact]
    public async Task A_failure_mid_stream_is_an_error_data_object_then_the_end()
    {
        var fake = new FakeProvider();
        fake.Script = (_, _) => ApiServer.Events(new TextDelta("partial"), TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed, "codex exited")));
        await using var server = await ApiServer.StartAsync(fake);
        var (response, _, frames) = await server.StreamAsync("/v1/chat/completions", """{"model":"gpt-5.2-codex","stream":true,"messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var last = JsonNode.Parse(frames[^1].Data!)!;
        ErrorAssert.IsOpenAIError(last, "server_error");
        Assert.DoesNotContain(frames, f => f.Data == "[DONE]");
    }

    [Fact]
    public async Task Unknown_provider_or_missing_cli_is_503_provider_unavailable()
    {
        var fake = new FakeProvider(ProviderKind.Codex);
        await using var server = await ApiServer.StartAsync(fake);
        // No Claude provider registered in this server.
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", """{"model":"sonnet","messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "provider_unavailable");
        Assert.Contains("npm install -g @anthropic-ai/claude-code", error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_request_extending_an_answered_conversation_continues_its_session_with_only_the_new_message()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (first, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var next = """{"model":"gpt-5.2-codex","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello world"},{"role":"user","content":"More"}]}""";
        var (second, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", next);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        var requests = fake.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal("sess-1", requests[1].SessionId);
        var only = Assert.Single(requests[1].Messages);
        Assert.Equal("More", Assert.IsType<TextPart>(Assert.Single(only.Parts)).Text);

        // A different earlier answer is another conversation: the whole history, a new session.
        var (third, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", next.Replace("Hello world", "Something else"));
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        requests = fake.Requests.ToArray();
        Assert.Null(requests[2].SessionId);
        Assert.Equal(3, requests[2].Messages.Count);
    }

    [Fact]
    public async Task A_lost_session_is_replayed_once_with_the_whole_history()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => r.SessionId is null
            ? fake.Reply(r, ct, TimeSpan.Zero, "Hello world")
            : ApiServer.Events(TurnEnded.Failed(new ProviderError(ProviderErrorKind.SessionNotFound, "gone")));
        await using var server = await ApiServer.StartAsync(fake);
        await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Simple);
        var (second, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            """{"model":"gpt-5.2-codex","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello world"},{"role":"user","content":"More"}]}""");
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("Hello world", body!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        var requests = fake.Requests.ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Equal("sess-1", requests[1].SessionId);
        Assert.Null(requests[2].SessionId);
        Assert.Equal(3, requests[2].Messages.Count);
        Assert.Equal("Be brief.", requests[2].Instructions);
    }
}
