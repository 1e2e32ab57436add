using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

[Collection(EndToEndGroup.Name)]
public sealed class UsageWindowsEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    [Fact]
    public async Task Codex_usage_window_from_upstream_headers_shows_in_health_and_stats_and_an_exhausted_one_answers_429_until_it_resets()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync();
        // codex's start (seconds on a cold machine) before the window's clock starts, so the window is still open at each check.
        var (warm, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "warm")));
        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        var resetsAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 8;
        stack.CodexUpstream.ResponseHeaders = new Dictionary<string, string>
        {
            ["x-codex-primary-used-percent"] = "100",
            ["x-codex-primary-window-minutes"] = "300",
            ["x-codex-primary-reset-at"] = resetsAt.ToString(CultureInfo.InvariantCulture),
            ["x-codex-secondary-used-percent"] = "40",
            ["x-codex-secondary-window-minutes"] = "10080",
            ["x-codex-secondary-reset-at"] = (resetsAt + 86400).ToString(CultureInfo.InvariantCulture),
        };
        try
        {
            var (first, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);

            var health = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!;
            output.WriteLine(health["usage_windows"]!.ToJsonString());
            var windows = health["usage_windows"]!["codex"]!.AsArray();
            var fiveHour = windows.Single(w => (string?)w!["window"] == "5h")!;
            Assert.Equal(100, (double)fiveHour["used_percent"]!);
            Assert.Equal(resetsAt, (long)fiveHour["resets_at"]!);
            Assert.Equal(40, (double)windows.Single(w => (string?)w!["window"] == "weekly")!["used_percent"]!);
            var stats = JsonNode.Parse(await server.Client.GetStringAsync("/admin/stats"))!;
            Assert.Contains(stats["usage_windows"]!["codex"]!.AsArray(), w => (string?)w!["window"] == "5h");

            var before = stack.CodexUpstream.Requests.Count;
            var clock = Stopwatch.StartNew();
            using var refused = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "again")));
            var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
            Assert.Equal("rate_limit_exceeded", (string?)body["error"]!["code"]);
            var retryAfter = long.Parse(refused.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture);
            Assert.InRange(retryAfter, 1, 8);
            Assert.Equal(before, stack.CodexUpstream.Requests.Count);

            stack.CodexUpstream.ResponseHeaders = null;
            await Task.Delay(TimeSpan.FromSeconds(resetsAt - DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1));
            var (after, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "after the reset")));
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        }
        finally
        {
            stack.CodexUpstream.ResponseHeaders = null;
        }
    }

    [Theory(Timeout = 90_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_codex_usage_limit_429_answers_that_request_with_429_and_the_reset_and_closes_codex_until_then(bool stream)
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync();
        var resetsAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 20;
        stack.CodexUpstream.FailWithStatus = 429;
        stack.CodexUpstream.FailBody = $$$"""{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":{{{resetsAt}}},"resets_in_seconds":20}}""";
        stack.CodexUpstream.ResponseHeaders = new Dictionary<string, string>
        {
            ["x-codex-primary-used-percent"] = "100",
            ["x-codex-primary-window-minutes"] = "300",
            ["x-codex-primary-reset-at"] = resetsAt.ToString(CultureInfo.InvariantCulture),
        };
        var before = stack.CodexUpstream.Requests.Count;
        var clock = Stopwatch.StartNew();
        using var response = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, stream, ("user", "hi")));
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:0.0} s, {stack.CodexUpstream.Requests.Count - before} upstream request(s): {text}");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(JsonNode.Parse(text), "rate_limit_exceeded");
        Assert.Contains("usage limit", (string)error["message"]!, StringComparison.OrdinalIgnoreCase);
        Assert.InRange(long.Parse(response.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture), 10, 20);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        // The next request does not reach codex's upstream at all.
        before = stack.CodexUpstream.Requests.Count;
        using var again = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, stream, ("user", "again")));
        Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
        Assert.Equal(before, stack.CodexUpstream.Requests.Count);
    }

    [Fact(Timeout = 90_000)]
    public async Task Codex_out_of_quota_is_429_insufficient_quota_and_not_to_be_retried()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync();
        stack.CodexUpstream.FailWithStatus = 429;
        stack.CodexUpstream.FailBody = """{"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You exceeded your current quota, please check your plan and billing details.","param":null}}""";
        var clock = Stopwatch.StartNew();
        using var response = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} after {clock.Elapsed.TotalSeconds:0.0} s: {text}");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(JsonNode.Parse(text), "insufficient_quota");
        Assert.Equal("insufficient_quota", (string?)error["type"]);
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact(Timeout = 60_000)]
    public async Task Claude_out_of_credit_is_429_insufficient_quota_and_not_to_be_retried()
    {
        stack.ResetMocks();
        stack.ClaudeUpstream.Reply = _ => MockReply.Error(400, "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.");
        try
        {
            using var response = await stack.Server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.ClaudeModel, false, ("user", "hi")));
            var text = await response.Content.ReadAsStringAsync();
            output.WriteLine($"{(int)response.StatusCode}: {text}");
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            var error = ErrorAssert.IsOpenAIError(JsonNode.Parse(text), "insufficient_quota");
            Assert.Contains("credit balance is too low", (string)error["message"]!, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Add credit", (string)error["message"]!, StringComparison.Ordinal);
            Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        }
        finally
        {
            stack.ResetMocks();
        }
    }

    /// <summary>
    /// claude 2.1.331 reports the subscription's windows (rate_limit_event) only when logged in with one:
    /// an OAuth token here, against the mock; anything claude would send elsewhere goes to a dead proxy on loopback.
    /// </summary>
    [Theory(Timeout = 120_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Claude_usage_windows_from_its_rate_limit_events_show_in_health_and_a_rejected_window_answers_429_until_it_resets(bool stream)
    {
        stack.ResetMocks();
        var home = TempDir.Create("claude-oauth-home");
        var environment = new Dictionary<string, string?>(stack.ClaudeEnvironment)
        {
            ["ANTHROPIC_API_KEY"] = null,
            ["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-mock",
            ["HOME"] = home,
            ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
            ["HTTPS_PROXY"] = "http://127.0.0.1:9",
            ["HTTP_PROXY"] = "http://127.0.0.1:9",
        };
        await using var server = await stack.StartServerAsync(claudeEnvironment: environment);
        var resetsAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;
        var weekly = resetsAt + 86400;
        Dictionary<string, string> Headers(string status, string fiveHour) => new()
        {
            ["anthropic-ratelimit-unified-status"] = status,
            ["anthropic-ratelimit-unified-reset"] = resetsAt.ToString(CultureInfo.InvariantCulture),
            ["anthropic-ratelimit-unified-representative-claim"] = "five_hour",
            ["anthropic-ratelimit-unified-5h-utilization"] = fiveHour,
            ["anthropic-ratelimit-unified-5h-reset"] = resetsAt.ToString(CultureInfo.InvariantCulture),
            ["anthropic-ratelimit-unified-7d-utilization"] = "0.2",
            ["anthropic-ratelimit-unified-7d-reset"] = weekly.ToString(CultureInfo.InvariantCulture),
        };
        try
        {
            stack.ClaudeUpstream.ResponseHeaders = Headers("allowed", "0.42");
            using (var first = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.ClaudeModel, stream, ("user", "hi"))))
            {
                var body = await first.Content.ReadAsStringAsync();
                Assert.True(first.StatusCode == HttpStatusCode.OK, body);
            }
            var windows = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["usage_windows"]!["claude"]!.AsArray();
            output.WriteLine(windows.ToJsonString());
            var fiveHour = windows.Single(w => (string?)w!["window"] == "5h")!;
            Assert.Equal(42, (double)fiveHour["used_percent"]!, 3);
            Assert.Equal(resetsAt, (long)fiveHour["resets_at"]!);
            Assert.Equal(300, (long)fiveHour["window_minutes"]!);
            Assert.False((bool)fiveHour["exhausted"]!);
            Assert.Equal(20, (double)windows.Single(w => (string?)w!["window"] == "weekly")!["used_percent"]!, 3);

            // The window runs out: that turn is refused upstream with a 429, and says when to come back. Its reset
            // is counted from here, with room for the checks below (the browser's start is seconds on a cold machine).
            resetsAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 20;
            stack.ClaudeUpstream.ResponseHeaders = Headers("rejected", "1.0");
            stack.ClaudeUpstream.Reply = _ => MockReply.Error(429, "This request would exceed your account's rate limit. Please try again later.");
            using (var refused = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.ClaudeModel, stream, ("user", "more"))))
            {
                var text = await refused.Content.ReadAsStringAsync();
                output.WriteLine($"{(int)refused.StatusCode} {text}");
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                ErrorAssert.IsOpenAIError(JsonNode.Parse(text), "rate_limit_exceeded");
                Assert.InRange(long.Parse(refused.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture), 1, 20);
            }
            var exhausted = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["usage_windows"]!["claude"]!.AsArray()
                .Single(w => (string?)w!["window"] == "5h")!;
            Assert.True((bool)exhausted["exhausted"]!);

            // Until the reset, requests get 429 at once and nothing goes upstream.
            var before = stack.ClaudeUpstream.MessageRequests.Length;
            var clock = Stopwatch.StartNew();
            using (var closed = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.ClaudeModel, stream, ("user", "still?"))))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, closed.StatusCode);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
                Assert.InRange(long.Parse(closed.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture), 1, 20);
            }
            Assert.Equal(before, stack.ClaudeUpstream.MessageRequests.Length);
            var stats = JsonNode.Parse(await server.Client.GetStringAsync("/admin/stats"))!;
            Assert.Contains(stats["usage_windows"]!["claude"]!.AsArray(), w => (string?)w!["window"] == "5h" && (bool)w["exhausted"]!);
            // The console's dashboard says it to a person.
            var (_, claudePanel) = await DashboardPanels.ReadAsync(server.Client);
            output.WriteLine(claudePanel);
            Assert.Contains("Usage 5h\n100 % used (used up: requests get 429)", claudePanel, StringComparison.Ordinal);
            Assert.Contains("Usage weekly\n20 % used, resets", claudePanel, StringComparison.Ordinal);
            var metrics = await server.Client.GetStringAsync("/metrics");
            Assert.Contains("codex_api_server_usage_window_exhausted{cli=\"claude\",window=\"5h\"} 1\n", metrics, StringComparison.Ordinal);
            Assert.Contains("codex_api_server_usage_window_used_ratio{cli=\"claude\",window=\"weekly\"} 0.2\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"codex_api_server_usage_window_resets_at_seconds{{cli=\"claude\",window=\"5h\"}} {resetsAt}\n", metrics, StringComparison.Ordinal);

            stack.ResetMocks();
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, resetsAt - DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1)));
            using var after = await server.PostAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.ClaudeModel, stream, ("user", "after the reset")));
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        }
        finally
        {
            stack.ResetMocks();
            await server.DisposeAsync();
            TempDir.Delete(home);
        }
    }
}
