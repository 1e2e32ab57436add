using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Api;

/// <summary>
/// A CLI that hangs, seen through HTTP: the fake CLIs (Fakes/) stay silent on "#mode=silent", go quiet
/// after one delta on "#mode=hang", and a fake app-server stops answering anything on "#mode=freeze".
/// </summary>
public sealed class HungCliTests
{
    private const string Claude = "claude-sonnet-4-5";
    private const string Codex = "gpt-5.2-codex";
    private const int FirstOutputSeconds = 2;

    private sealed record Stack(TestServer Server, string CodexLog, CapturingLoggerProvider Logs) : IAsyncDisposable
    {
        public ClaudeProvider ClaudeProvider => Server.App.Services.GetRequiredService<ClaudeProvider>();
        public CodexProvider CodexProvider => Server.App.Services.GetRequiredService<CodexProvider>();

        public ValueTask DisposeAsync() => Server.DisposeAsync();

        /// <summary>
        /// Short limits for the requests that follow, or the defaults back. Set on a running server (they apply to
        /// the next turn), so a CLI's cold start under a loaded machine is not what a test times.
        /// </summary>
        public void SilenceLimits(int firstOutputSeconds, int idleSeconds)
        {
            Server.Settings.Config.FirstOutputTimeoutSeconds = firstOutputSeconds;
            Server.Settings.Config.IdleStreamTimeoutSeconds = idleSeconds;
        }

        public void DefaultSilenceLimits() => SilenceLimits(new ServerConfig().FirstOutputTimeoutSeconds, new ServerConfig().IdleStreamTimeoutSeconds);

        /// <summary>
        /// First requests, so the CLI is started (codex's app-server, a claude spare) before the one a test
        /// times. Claude keeps spares for a key seen more than once, so it gets two new conversations.
        /// </summary>
        public async Task WarmUpAsync(string model)
        {
            for (var i = 0; i < (model == Claude ? 2 : 1); i++)
            {
                var (warm, body) = await Server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body("chat", model, "warm up", stream: false));
                Assert.True(warm.StatusCode == HttpStatusCode.OK, body?.ToJsonString());
            }
            if (model == Claude)
            {
                Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => ClaudeProvider.SpareCount >= 1, TimeSpan.FromSeconds(10)), "no claude spare");
                await Processes.AssertSpareLoadedAsync(ClaudeProvider.StartedPids);
            }
        }
    }

    /// <summary>The server with both fake CLIs and keep-alives every 300 ms (so a stream is under way before a 2 s limit).</summary>
    private static async Task<Stack> StartAsync(string? codexMode = null)
    {
        var claudeScript = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-claude.mjs");
        File.SetUnixFileMode(claudeScript, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var codexLog = Path.Combine(TempDir.Create("fake-codex-log"), "log.jsonl");
        var config = new JsonObject { ["claudePath"] = claudeScript, ["codexPath"] = CodexHarness.FakeCodexPath() };
        var logs = new CapturingLoggerProvider();
        var server = await TestServer.StartAsync(config.ToJsonString(), logging: logs, configureServices: services =>
        {
            services.AddSingleton(new ClaudeProviderOptions { Environment = new Dictionary<string, string?> { ["FAKE_CLAUDE_LOG"] = TempDir.Create("fake-claude-log") } });
            services.AddSingleton(new CodexProviderOptions { Environment = new Dictionary<string, string?> { ["FAKE_CODEX_LOG"] = codexLog, ["FAKE_CODEX_MODE"] = codexMode } });
            services.AddSingleton(new StreamingOptions { KeepAliveInterval = TimeSpan.FromMilliseconds(300) });
        });
        return new Stack(server, codexLog, logs);
    }

    private static string Body(string endpoint, string model, string text, bool stream) => endpoint == "chat"
        ? new JsonObject { ["model"] = model, ["stream"] = stream, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }) }.ToJsonString()
        : new JsonObject { ["model"] = model, ["stream"] = stream, ["input"] = text }.ToJsonString();

    private static string PathOf(string endpoint) => endpoint == "chat" ? "/v1/chat/completions" : "/v1/responses";

    /// <summary>The answer text of a plain (non-streaming) reply of either endpoint.</summary>
    private static string? AnswerText(string endpoint, JsonNode body) => endpoint == "chat"
        ? (string?)body["choices"]![0]!["message"]!["content"]
        : string.Concat(body["output"]!.AsArray().Where(i => (string?)i!["type"] == "message").SelectMany(i => i!["content"]!.AsArray()).Select(c => (string?)c!["text"]));

    [Theory(Timeout = 60_000)]
    [InlineData(Claude, "chat", false)]
    [InlineData(Claude, "chat", true)]
    [InlineData(Claude, "responses", false)]
    [InlineData(Claude, "responses", true)]
    [InlineData(Codex, "chat", false)]
    [InlineData(Codex, "chat", true)]
    [InlineData(Codex, "responses", false)]
    [InlineData(Codex, "responses", true)]
    public async Task A_hanging_fake_CLI_gives_an_error_within_the_first_output_timeout(string model, string endpoint, bool stream)
    {
        await using var stack = await StartAsync();
        var server = stack.Server;
        await stack.WarmUpAsync(model);
        stack.SilenceLimits(FirstOutputSeconds, FirstOutputSeconds);

        var clock = Stopwatch.StartNew();
        using var response = await server.PostAsync(PathOf(endpoint), Body(endpoint, model, "#mode=silent hello?", stream));
        var raw = await response.Content.ReadAsStringAsync();
        clock.Stop();
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(FirstOutputSeconds - 0.5), TimeSpan.FromSeconds(FirstOutputSeconds + 5));

        JsonObject error;
        if (!stream)
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            error = ErrorAssert.IsOpenAIError(JsonNode.Parse(raw), "timeout");
        }
        else
        {
            // The 200 and keep-alives went out while the CLI was silent: the error comes in the stream.
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var frames = ApiServer.ParseSse(raw);
            Assert.Contains(frames, f => f.IsComment);
            var errorFrame = endpoint == "chat"
                ? frames.Single(f => f.Data is { } d && d.Contains("\"error\"", StringComparison.Ordinal))
                : frames.Single(f => f.Event == "error");
            var data = JsonNode.Parse(errorFrame.Data!)!;
            error = endpoint == "chat" ? ErrorAssert.IsOpenAIError(data, "timeout") : data.AsObject();
            Assert.Equal("timeout", (string?)error["code"]);
            if (endpoint == "responses")
            {
                var failed = frames.Single(f => f.Event == "response.failed");
                Assert.Equal("failed", (string?)JsonNode.Parse(failed.Data!)!["response"]!["status"]);
            }
            Assert.DoesNotContain("finish_reason\":\"length", raw, StringComparison.Ordinal);
        }
        Assert.Contains("firstOutputTimeoutSeconds", (string)error["message"]!, StringComparison.Ordinal);

        // The hung turn is freed: claude's process ended, codex's turn interrupted.
        if (model == Claude)
        {
            // The first spare, which took the turn: the warm-ups' two processes keep their own sessions.
            var pid = stack.ClaudeProvider.StartedPids[2];
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(5)), $"claude {pid} still runs");
        }
        else
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => File.ReadAllText(stack.CodexLog).Contains("\"turn/interrupt\"", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
                "the silent codex turn was not interrupted");
        }

        stack.DefaultSilenceLimits();
        var (next, nextBody) = await server.SendJsonAsync(HttpMethod.Post, PathOf(endpoint), Body(endpoint, model, "hello again", stream: false));
        Assert.True(next.StatusCode == HttpStatusCode.OK, nextBody?.ToJsonString());
        Assert.False(string.IsNullOrEmpty(AnswerText(endpoint, nextBody!)));
    }

    [Theory(Timeout = 60_000)]
    [InlineData(Claude)]
    [InlineData(Codex)]
    public async Task A_CLI_that_goes_quiet_mid_answer_ends_the_stream_with_an_error_not_a_short_answer(string model)
    {
        await using var stack = await StartAsync();
        await stack.WarmUpAsync(model);
        stack.SilenceLimits(60, FirstOutputSeconds);
        using var response = await stack.Server.PostAsync("/v1/chat/completions", Body("chat", model, "#mode=hang", stream: true));
        var raw = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var frames = ApiServer.ParseSse(raw);
        var last = frames.Last(f => !f.IsComment);
        var error = ErrorAssert.IsOpenAIError(JsonNode.Parse(last.Data!), "timeout");
        Assert.Contains("idleStreamTimeoutSeconds", (string)error["message"]!, StringComparison.Ordinal);
        Assert.DoesNotContain("[DONE]", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("\"finish_reason\":\"length\"", raw, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_hung_app_server_is_ended_and_the_next_request_gets_a_new_one()
    {
        await using var stack = await StartAsync();
        var server = stack.Server;
        await stack.WarmUpAsync(Codex);
        var hungPid = stack.CodexProvider.AppServerPid!.Value;

        stack.SilenceLimits(FirstOutputSeconds, FirstOutputSeconds);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body("chat", Codex, "#mode=freeze", stream: false));
        Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"{(int)response.StatusCode} {body?.ToJsonString()}");
        ErrorAssert.IsOpenAIError(body, "timeout");
        // It answers not even turn/interrupt, so the provider ends the whole process.
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(hungPid), TimeSpan.FromSeconds(15)), $"the hung app-server {hungPid} still runs");

        stack.DefaultSilenceLimits();
        var (next, nextBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body("chat", Codex, "hello again", stream: false));
        Assert.True(next.StatusCode == HttpStatusCode.OK, nextBody?.ToJsonString());
        Assert.Equal("Hello from fake codex.", AnswerText("chat", nextBody!));
        Assert.NotEqual(hungPid, stack.CodexProvider.AppServerPid);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("chat")]
    [InlineData("responses")]
    public async Task A_turn_that_really_hits_the_turn_timeout_still_ends_as_length(string endpoint)
    {
        // Deltas every 300 ms for 3 s keep the 2 s idle-stream timeout away; the 2 s turn limit ends the turn.
        await using var stack = await StartAsync();
        await stack.WarmUpAsync(Claude);
        stack.SilenceLimits(FirstOutputSeconds, FirstOutputSeconds);
        stack.Server.Settings.Config.TurnTimeoutSeconds = 2;
        var (response, body) = await stack.Server.SendJsonAsync(HttpMethod.Post, PathOf(endpoint), Body(endpoint, Claude, "#mode=slower", stream: false));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (endpoint == "chat")
        {
            Assert.Equal("length", (string?)body!["choices"]![0]!["finish_reason"]);
        }
        else
        {
            Assert.Equal("incomplete", (string?)body!["status"]);
        }
        Assert.StartsWith("Hello", AnswerText(endpoint, body!));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_codex_that_refuses_the_chat_config_is_503_provider_unavailable_not_a_turn_with_its_shell()
    {
        await using var stack = await StartAsync("reject-config");
        var (response, body) = await stack.Server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body("chat", Codex, "hi", stream: false));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "provider_unavailable");
        Assert.Contains("free of tools, MCP servers and hooks", (string)error["message"]!, StringComparison.Ordinal);
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        Assert.DoesNotContain("\"turn/start\"", File.ReadAllText(stack.CodexLog), StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(Claude, "#mode=crash")]
    [InlineData(Codex, "hi")]
    public async Task A_crashing_CLI_s_stderr_and_upstream_address_reach_the_log_not_the_caller(string model, string text)
    {
        // fake-codex in die-at-start mode prints a token and an address on stderr and exits at once.
        await using var stack = await StartAsync(model == Codex ? "die-at-start" : null);
        var (response, body) = await stack.Server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Body("chat", model, text, stream: false));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var json = body!.ToJsonString();
        ErrorAssert.IsOpenAIError(body);
        Assert.DoesNotContain("SECRET", json, StringComparison.Ordinal);
        Assert.DoesNotContain("10.9.8.7", json, StringComparison.Ordinal);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => stack.Logs.Lines.Any(l => l.Contains("SECRET", StringComparison.Ordinal) && l.Contains("10.9.8.7", StringComparison.Ordinal)), TimeSpan.FromSeconds(5)),
            "the operator's log lacks the CLI's stderr");
    }

}
