using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>POST /v1/chat/completions through our server and the real CLIs to the mock model servers.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class ChatEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Endpoint = "POST /v1/chat/completions";
    private RealStackServer Server => stack.Server;

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Streaming_chat_is_golden_with_the_mocks_text_and_usage(string model)
    {
        stack.ResetMocks();
        var before = Upstream.Count(stack, model);

        using var response = await Server.PostAsync("/v1/chat/completions", Wire.Chat(model, stream: true, ("system", "Be brief."), ("user", "日本語で挨拶して 🙂")));
        var raw = await response.Content.ReadAsStringAsync();

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var data = Wire.DataOf(raw);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonNode.Parse(d)!.AsObject()).ToList();
        Assert.All(chunks, c =>
        {
            Assert.Equal(chunks[0]["id"]!.GetValue<string>(), c["id"]!.GetValue<string>());
            Assert.Equal("chat.completion.chunk", (string?)c["object"]);
            Assert.Equal(model, (string?)c["model"]);
            Assert.False(c.ContainsKey("error"));
        });
        // First: the role and nothing else said yet.
        var first = chunks[0]["choices"]![0]!;
        Assert.Equal("""{"role":"assistant","content":""}""", first["delta"]!.ToJsonString());
        Assert.Null(first["finish_reason"]);
        // Then the content, in several deltas, never repeating the role.
        var content = chunks.Skip(1).TakeWhile(c => c["choices"]!.AsArray().Count == 1 && c["choices"]![0]!["finish_reason"] is null).ToList();
        Assert.All(content, c => Assert.Equal(["content"], c["choices"]![0]!["delta"]!.AsObject().Select(p => p.Key)));
        Assert.Equal(RealStackFixture.Text, string.Concat(content.Select(c => (string)c["choices"]![0]!["delta"]!["content"]!)));
        Assert.True(content.Count >= 3, $"{content.Count} content chunks: {raw}");
        // Then the finish, the usage (the mock's own counts), [DONE].
        Assert.Equal(content.Count + 3, chunks.Count);
        var finish = chunks[^2]["choices"]![0]!;
        Assert.Equal("stop", (string?)finish["finish_reason"]);
        Assert.Equal("{}", finish["delta"]!.ToJsonString());
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        AssertUsage(model, usageChunk["usage"]!);

        Assert.Equal(before + 1, Upstream.Count(stack, model));
        Assert.Equal("日本語で挨拶して 🙂", Upstream.UserTexts(stack, model).Last());
        await Server.AssertUsageRowAsync(response, model, Endpoint);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Non_streaming_chat_carries_the_mocks_usage(string model)
    {
        stack.ResetMocks();

        var (response, body) = await Server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, stream: false, ("user", "こんにちは")));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("chat.completion", (string?)body["object"]);
        var choice = body["choices"]![0]!;
        Assert.Equal(RealStackFixture.Text, (string?)choice["message"]!["content"]);
        Assert.Equal("stop", (string?)choice["finish_reason"]);
        AssertUsage(model, body["usage"]!);
        await Server.AssertUsageRowAsync(response, model, Endpoint);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task A_follow_up_request_continues_the_live_cli_session(string model)
    {
        stack.ResetMocks();
        var store = Server.App.Services.GetRequiredService<ResponseStore>();
        var opening = new[] { ("system", "Be brief."), ("user", "私の名前はエイダです 🙂") };

        var (firstResponse, first) = await Server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, opening));
        var answer = (string)first["choices"]![0]!["message"]!["content"]!;
        Assert.Equal(RealStackFixture.Text, answer);
        var session = store.Get((string)first["id"]!, "chat.completion")!.SessionId!;
        var pid = Server.ProcessOf(model, session);
        Assert.NotNull(pid);
        var requestsBefore = Upstream.Count(stack, model);

        stack.CodexUpstream.Chunks = ["あなたは", "エイダ", "です ✅"];
        stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude(["あなたは", "エイダ", "です ✅"]);
        var (secondResponse, second) = await Server.PostJsonAsync("/v1/chat/completions",
            Wire.Chat(model, false, [.. opening, ("assistant", answer), ("user", "私の名前は?")]));

        Assert.Equal("あなたはエイダです ✅", (string?)second["choices"]![0]!["message"]!["content"]);
        Assert.Equal(session, store.Get((string)second["id"]!, "chat.completion")!.SessionId);
        Assert.Equal(pid, Server.ProcessOf(model, session));
        Assert.Equal(requestsBefore + 1, Upstream.Count(stack, model));
        // The CLI sent the first exchange from its own session, as separate turns; we sent only the new message.
        var turns = Upstream.Turns(stack, model);
        Assert.Contains(("user", "私の名前はエイダです 🙂"), turns);
        Assert.Contains(("assistant", RealStackFixture.Text), turns);
        Assert.Equal(["私の名前はエイダです 🙂", "私の名前は?"], Upstream.UserTexts(stack, model));
        await Server.AssertUsageRowAsync(firstResponse, model, Endpoint);
        await Server.AssertUsageRowAsync(secondResponse, model, Endpoint);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task A_client_that_aborts_mid_stream_closes_the_upstream_connection(string model)
    {
        stack.ResetMocks();
        var slow = Enumerable.Range(0, 100).Select(i => $"単語{i} ").ToArray();
        stack.CodexUpstream.Chunks = slow;
        stack.CodexUpstream.DeltaDelay = TimeSpan.FromMilliseconds(100);
        stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude(slow) with { HangAfter = 2 };
        var before = Upstream.Count(stack, model);

        // A client that drops the connection, as a closed browser tab or a killed process does; HttpClient would
        // otherwise drain the rest of the body for up to 2 s before closing.
        using var client = new HttpClient(new SocketsHttpHandler { ResponseDrainTimeout = TimeSpan.Zero, MaxResponseDrainSize = 0 }) { BaseAddress = Server.Client.BaseAddress };
        using var streaming = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(Wire.Chat(model, true, ("user", "ゆっくり数えて")).ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        var response = await client.SendAsync(streaming, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line && !line.Contains("単語", StringComparison.Ordinal))
        {
        }
        var abortedAt = Stopwatch.StartNew();
        var claudeAbortedAt = stack.ClaudeUpstream.Now;
        response.Dispose();

        if (model == RealStackFixture.CodexModel)
        {
            await stack.CodexUpstream.ClientAborted.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        else
        {
            var request = stack.ClaudeUpstream.MessageRequests[before];
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => request.AbortedAt is not null, TimeSpan.FromSeconds(5)), "the upstream connection stayed open");
        }
        var closedAfter = abortedAt.Elapsed;
        output.WriteLine($"{model}: upstream connection closed {closedAfter.TotalMilliseconds:0} ms after the client left");
        Assert.True(closedAfter < TimeSpan.FromSeconds(2), $"closed after {closedAfter}");

        // The provider is not left broken: the next request is answered in full.
        stack.ResetMocks();
        var (next, body) = await Server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "もう一度")));
        Assert.Equal(200, (int)next.StatusCode);
        Assert.Equal(RealStackFixture.Text, (string?)body["choices"]![0]!["message"]!["content"]);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Concurrent_requests_each_get_their_own_answer(string model)
    {
        stack.ResetMocks();
        stack.CodexUpstream.DeltaDelay = TimeSpan.FromMilliseconds(20);
        stack.CodexUpstream.Reply = r => Echo(Upstream.UserTextOf(r));
        stack.ClaudeUpstream.Reply = r => RealStackFixture.Claude(Echo(r.Body)) with { ChunkDelay = TimeSpan.FromMilliseconds(20) };

        var clock = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(async i =>
        {
            var (response, body) = await Server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", $"タグ tag-{i} を返して")));
            return (i, response, body);
        }));
        output.WriteLine($"{model}: 4 concurrent requests in {clock.ElapsedMilliseconds} ms");

        foreach (var (i, response, body) in results)
        {
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal($"答え: tag-{i} ✅", (string?)body["choices"]![0]!["message"]!["content"]);
            await Server.AssertUsageRowAsync(response, model, Endpoint);
        }

        static string[] Echo(string request)
        {
            var tag = System.Text.RegularExpressions.Regex.Match(request, "tag-[0-9]").Value;
            return ["答え: ", tag, " ✅"];
        }
    }

    [Theory(Timeout = 90_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task The_official_openai_sdk_works_against_the_real_clis(string model)
    {
        stack.ResetMocks();
        var usage = RealStackFixture.UsageOf(model);
        var script = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(RealClis.NodeModulesBin))!, "sdk-real-check.mjs");

        var (exitCode, text) = await NodeScript.RunAsync(script,
            [Server.Client.BaseAddress!.ToString(), model, RealStackFixture.Text, usage.Prompt.ToString(), usage.Completion.ToString()], TimeSpan.FromSeconds(80));

        output.WriteLine(text);
        NodeScript.AssertPassed(exitCode, text, script);
        Assert.Contains("6/6 checks passed", text);
    }

    private static void AssertUsage(string model, JsonNode usage)
    {
        var expected = RealStackFixture.UsageOf(model);
        Assert.Equal(expected.Prompt, (long)usage["prompt_tokens"]!);
        Assert.Equal(expected.Completion, (long)usage["completion_tokens"]!);
        Assert.Equal(expected.Prompt + expected.Completion, (long)usage["total_tokens"]!);
        Assert.Equal(expected.Cached, (long)usage["prompt_tokens_details"]!["cached_tokens"]!);
        Assert.Equal(expected.Reasoning, (long)usage["completion_tokens_details"]!["reasoning_tokens"]!);
    }
}
