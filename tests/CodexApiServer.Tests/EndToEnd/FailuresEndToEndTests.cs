using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>What an HTTP client sees when the model upstream fails or the server is full, with the real CLIs in between.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class FailuresEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Endpoint = "POST /v1/chat/completions";

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel, "codex login")]
    [InlineData(RealStackFixture.ClaudeModel, "/login")]
    public async Task Upstream_401_is_503_provider_not_authenticated_within_3_seconds(string model, string hint)
    {
        stack.ResetMocks();
        var server = stack.Server;
        // A server that has been running: the CLI is started (codex app-server, a warm claude spare, kept
        // for a key seen more than once).
        for (var i = 0; i < 2; i++)
        {
            var (warm, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "warm up")));
            Assert.Equal(200, (int)warm.StatusCode);
        }
        if (model == RealStackFixture.ClaudeModel)
        {
            var spare = (await Processes.ListedAsync(server.Client, l => l.Exists(p => p.Role == "spare"))).First(p => p.Role == "spare").Pid;
            // Loaded, as it would be between real requests: claude has stopped using CPU and waits on its stdin.
            Assert.True(await Processes.WaitIdleAsync(spare, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(15)), $"spare {spare} still busy");
        }
        stack.CodexUpstream.FailWithStatus = 401;
        stack.ClaudeUpstream.Reply = _ => MockReply.Error(401);

        try
        {
            var clock = Stopwatch.StartNew();
            using var response = await server.PostAsync("/v1/chat/completions", Wire.Chat(model, true, ("user", "hi")));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            output.WriteLine($"{model}: 401 upstream → HTTP {(int)response.StatusCode} after {clock.ElapsedMilliseconds} ms: {body?.ToJsonString()}");

            Assert.Equal(503, (int)response.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var error = ErrorAssert.IsOpenAIError(body, "provider_not_authenticated");
            Assert.Contains(hint, (string)error["message"]!, StringComparison.Ordinal);
            if (model == RealStackFixture.CodexModel)
            {
                // The upstream's own words, not codex's retry progress ("Reconnecting... 1/1").
                Assert.Contains("mock says 401", (string)error["message"]!, StringComparison.Ordinal);
                // Not the address of the model server codex called (codex adds ", url: ...").
                Assert.DoesNotContain(new Uri(stack.CodexUpstream.BaseUrl).Authority, (string)error["message"]!, StringComparison.Ordinal);
            }
            Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
            var row = await server.UsageRowAsync(response);
            Assert.Equal(503, row.Status);
            Assert.Equal(model, row.Model);
        }
        finally
        {
            stack.ResetMocks();
        }

        var (next, nextBody) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "hi again")));
        Assert.Equal(200, (int)next.StatusCode);
        Assert.Equal(RealStackFixture.Text, (string?)nextBody["choices"]![0]!["message"]!["content"]);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Upstream_500_is_502_server_error(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;
        stack.CodexUpstream.FailWithStatus = 500;
        stack.ClaudeUpstream.Reply = _ => MockReply.Error(500);
        var before = Upstream.Count(stack, model);
        try
        {
            var clock = Stopwatch.StartNew();
            var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "hi")));
            output.WriteLine($"{model}: 500 upstream → HTTP {(int)response.StatusCode} after {clock.ElapsedMilliseconds} ms, {Upstream.Count(stack, model) - before} upstream attempts: {body.ToJsonString()}");

            Assert.Equal(502, (int)response.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
            var error = ErrorAssert.IsOpenAIError(body, "server_error");
            Assert.Equal("server_error", (string?)error["type"]);
            Assert.DoesNotContain(new Uri(stack.CodexUpstream.BaseUrl).Authority, (string)error["message"]!, StringComparison.Ordinal);
            Assert.True(Upstream.Count(stack, model) - before >= 2, "the CLI did not retry");
            Assert.Equal(502, (await server.UsageRowAsync(response)).Status);
        }
        finally
        {
            stack.ResetMocks();
        }
    }

    [Theory(Timeout = 60_000)]
    // The ChatGPT backend's refusal of a model the account cannot use, as codex receives it ...
    [InlineData(400, """{"detail":"The 'gpt-5.2-codex' model is not supported when using Codex with a ChatGPT account."}""", "not supported")]
    // ... and the OpenAI API's answer for a model that does not exist.
    [InlineData(404, """{"error":{"message":"The model `gpt-5.2-codex` does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}""", "does not exist")]
    public async Task Codex_refusing_a_model_as_unknown_is_404_model_not_found(int status, string upstreamBody, string upstreamWords)
    {
        stack.ResetMocks();
        var server = stack.Server;
        stack.CodexUpstream.FailWithStatus = status;
        stack.CodexUpstream.FailBody = upstreamBody;
        try
        {
            var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
            output.WriteLine($"upstream {status} → HTTP {(int)response.StatusCode}: {body.ToJsonString()}");

            Assert.Equal(404, (int)response.StatusCode);
            var error = ErrorAssert.IsOpenAIError(body, "model_not_found");
            Assert.Equal("invalid_request_error", (string?)error["type"]);
            Assert.Equal("model", (string?)error["param"]);
            Assert.Contains(upstreamWords, (string)error["message"]!, StringComparison.Ordinal);
            Assert.DoesNotContain(new Uri(stack.CodexUpstream.BaseUrl).Authority, (string)error["message"]!, StringComparison.Ordinal);
        }
        finally
        {
            stack.ResetMocks();
        }
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task With_one_slot_an_overflow_request_gets_429_while_a_slow_turn_runs(string model)
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(extraConfig: """{"maxConcurrentTurns": 1, "queueTimeoutSeconds": 1}""");
        string[] slow = ["ゆっくり", "、", "でも", "確実に", " 🐢"];
        stack.CodexUpstream.Chunks = slow;
        stack.CodexUpstream.DeltaDelay = TimeSpan.FromMilliseconds(700);
        stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude(slow) with { ChunkDelay = TimeSpan.FromMilliseconds(700) };
        var before = Upstream.Count(stack, model);
        try
        {
            var slowTurn = server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "slow")));
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => Upstream.Count(stack, model) > before, TimeSpan.FromSeconds(20)), "the slow turn never reached the model");

            var clock = Stopwatch.StartNew();
            var (overflow, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(model, false, ("user", "overflow")));
            output.WriteLine($"{model}: overflow answered {(int)overflow.StatusCode} after {clock.ElapsedMilliseconds} ms");

            Assert.Equal(429, (int)overflow.StatusCode);
            ErrorAssert.IsOpenAIError(body, "rate_limit_exceeded");
            Assert.True(int.Parse(overflow.Headers.GetValues("retry-after").Single()) >= 1);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
            Assert.False(slowTurn.IsCompleted, "the slow turn ended before the overflow was refused; the test proves nothing");
            var (done, doneBody) = await slowTurn;
            Assert.Equal(200, (int)done.StatusCode);
            Assert.Equal(string.Concat(slow), (string?)doneBody["choices"]![0]!["message"]!["content"]);
            await server.AssertUsageRowAsync(done, model, Endpoint);
            Assert.Equal(429, (await server.UsageRowAsync(overflow)).Status);
            // The overflow never reached the model.
            Assert.Equal(before + 1, Upstream.Count(stack, model));
        }
        finally
        {
            stack.ResetMocks();
        }

        var tree = server.ProviderProcessTree();
        Assert.NotEmpty(tree);
        await server.StopAsync();
        await Processes.AssertAllEndAsync(tree, TimeSpan.FromSeconds(5));
    }
}
