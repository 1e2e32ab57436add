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
}
