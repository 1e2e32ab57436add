using System.Text.Json.Nodes;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// What a Claude subscription does that an accepting mock does not, through HTTP with the real claude:
/// the third-party refusal, claudeSystemPrompt "append", and the login kind in /health.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class ClaudeSubscriptionEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Model = RealStackFixture.ClaudeModel;

    [Theory(Timeout = 60_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_third_party_400_is_a_clear_400_with_its_own_code_not_retried_and_shown_in_health(bool stream)
    {
        stack.ResetMocks();
        var server = stack.Server;
        stack.ClaudeUpstream.RefuseThirdParty = true;
        var before = Upstream.Count(stack, Model);
        try
        {
            using var response = await server.PostAsync("/v1/chat/completions", Wire.Chat(Model, stream, ("user", "hi")));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            var attempts = Upstream.Count(stack, Model) - before;
            output.WriteLine($"HTTP {(int)response.StatusCode}, {attempts} upstream request(s): {body?.ToJsonString()}");

            Assert.Equal(400, (int)response.StatusCode);
            var error = ErrorAssert.IsOpenAIError(body, "subscription_third_party_refused");
            Assert.Equal("invalid_request_error", (string?)error["type"]);
            var message = (string)error["message"]!;
            Assert.Contains(MockAnthropicUpstream.ThirdPartyRefusal, message, StringComparison.Ordinal);
            Assert.Contains("claudeSystemPrompt \"append\"", message, StringComparison.Ordinal);
            Assert.Contains("This server has claudeSystemPrompt \"replace\"", message, StringComparison.Ordinal);
            Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
            // One turn: claude 2.1.331 itself sends a 400 up to 3 times (once more as is, once without
            // thinking.display); the server starts no second turn.
            Assert.InRange(attempts, 1, 3);
            Assert.Equal(400, (await server.UsageRowAsync(response)).Status);

            var refusal = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["providers"]!["claude"]!["last_refusal"];
            Assert.NotNull(refusal);
            Assert.Contains(MockAnthropicUpstream.ThirdPartyRefusal, (string)refusal!["message"]!, StringComparison.Ordinal);
            Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse((string)refusal["at"]!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(1));
            if (stream)
            {
                var (_, claudePanel) = await DashboardPanels.ReadAsync(server.Client);
                Assert.Contains("Refused", claudePanel, StringComparison.Ordinal);
                Assert.Contains(MockAnthropicUpstream.ThirdPartyRefusal, claudePanel, StringComparison.Ordinal);
            }
        }
        finally
        {
            stack.ClaudeUpstream.RefuseThirdParty = false;
        }
    }

    [Fact(Timeout = 90_000)]
    public async Task Append_sends_claude_code_s_own_prompt_plus_ours_and_passes_where_replace_is_refused()
    {
        stack.ResetMocks();
        await using var append = await stack.StartServerAsync(extraConfig: """{"claudeSystemPrompt": "append"}""");
        stack.ClaudeUpstream.RefuseThirdParty = true;
        try
        {
            var before = Upstream.Count(stack, Model);
            var (response, body) = await append.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("system", "Answer like a pirate."), ("user", "hi")));
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal(RealStackFixture.Text, (string?)body["choices"]![0]!["message"]!["content"]);
            var sent = stack.ClaudeUpstream.MessageRequests[before].Json;
            Assert.True(MockAnthropicUpstream.HasClaudeCodePrompt(sent));
            var system = JsonStrings.In(sent["system"]).ToList();
            Assert.Contains(system, t => t.Contains("Answer like a pirate.", StringComparison.Ordinal));
            // Chat mode still sends no tools.
            Assert.Empty(sent["tools"] as JsonArray ?? []);
        }
        finally
        {
            stack.ClaudeUpstream.RefuseThirdParty = false;
        }

        // The upstream bytes of one plain turn (no instructions) in each mode, for the README.
        var plain = Wire.Chat(Model, false, ("user", "hi"));
        var appendBytes = await PlainTurnBytesAsync(append, plain);
        var replaceBytes = await PlainTurnBytesAsync(stack.Server, plain);
        output.WriteLine($"one plain turn upstream: replace {replaceBytes} B, append {appendBytes} B");
        Assert.True(replaceBytes < 4_000, $"replace sent {replaceBytes} B");
        Assert.True(appendBytes > replaceBytes + 10_000, $"append sent {appendBytes} B, replace {replaceBytes} B");
    }

    private async Task<int> PlainTurnBytesAsync(RealStackServer server, JsonNode request)
    {
        var before = Upstream.Count(stack, Model);
        var (response, _) = await server.PostJsonAsync("/v1/chat/completions", request);
        Assert.Equal(200, (int)response.StatusCode);
        return stack.ClaudeUpstream.MessageRequests[before].Bytes;
    }

    [Fact(Timeout = 60_000)]
    public async Task Health_tells_the_api_key_login_of_the_mock_setup_and_no_hint()
    {
        JsonNode? claude = null;
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() =>
        {
            claude = JsonNode.Parse(stack.Server.Client.GetStringAsync("/health").GetAwaiter().GetResult())!["providers"]!["claude"];
            return claude?["checked_at"] is not null && claude["logged_in"] is not null;
        }, TimeSpan.FromSeconds(30)), "the probe never reported");
        output.WriteLine(claude!.ToJsonString());
        Assert.Equal("api_key", (string?)claude["login"]);
        Assert.True((bool)claude["logged_in"]!);
        Assert.Null(claude["error"]);
    }
}
