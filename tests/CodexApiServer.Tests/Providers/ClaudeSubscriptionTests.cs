using System.Text;
using CodexApiServer.Endpoints;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Tests.Providers;

/// <summary>claudeSystemPrompt, the subscription's third-party refusal and Claude's login kinds, without a process.</summary>
public sealed class ClaudeSubscriptionTests
{
    private const string SessionId = "3f2c8a4e-1b7d-4c9e-a5f6-0d1e2f3a4b5c";

    private static TurnRequest Request(string? instructions = null) =>
        new(ClaudeTestHarness.Model("claude-sonnet-4-5"), instructions, [TurnMessage.User("hi")]);

    [Fact]
    public void Append_keeps_claude_s_prompt_adds_the_instructions_and_keeps_chat_tools_off()
    {
        var key = ClaudeArgs.KeyOf(Request("Be brief."), agentMode: false, appendPrompt: true);
        var argv = ClaudeArgs.Build(key, SessionId, false, false, null);
        Assert.Contains("--append-system-prompt=Be brief.", argv);
        Assert.DoesNotContain(argv, a => a.StartsWith("--system-prompt", StringComparison.Ordinal));
        Assert.Contains("--tools", argv);

        // Nothing to append: no flag at all (an empty --system-prompt would replace Claude Code's prompt).
        var none = ClaudeArgs.Build(ClaudeArgs.KeyOf(Request(), agentMode: false, appendPrompt: true), SessionId, false, false, null);
        Assert.DoesNotContain(none, a => a.Contains("system-prompt", StringComparison.Ordinal));

        var longKey = ClaudeArgs.KeyOf(Request(new string('p', 20_000)), agentMode: false, appendPrompt: true);
        Assert.Contains("--append-system-prompt-file=/data/p.txt", ClaudeArgs.Build(longKey, SessionId, false, false, "/data/p.txt"));
    }

    [Fact]
    public void The_setting_is_part_of_the_process_key()
    {
        Assert.NotEqual(ClaudeArgs.KeyOf(Request("x"), false, appendPrompt: false), ClaudeArgs.KeyOf(Request("x"), false, appendPrompt: true));
        Assert.Equal(ClaudeArgs.KeyOf(Request("x"), false), ClaudeArgs.KeyOf(Request("x"), false, appendPrompt: false));
    }

    [Theory]
    [InlineData("replace", true)]
    [InlineData("append", true)]
    [InlineData("Append", false)]
    [InlineData("prepend", false)]
    public void Config_accepts_replace_or_append(string value, bool valid)
    {
        var problems = new ServerConfig { ClaudeSystemPrompt = value }.Validate();
        Assert.Equal(valid, !problems.Exists(p => p.Contains("claudeSystemPrompt", StringComparison.Ordinal)));
        Assert.Equal("replace", new ServerConfig().ClaudeSystemPrompt);
    }

    // The result line claude 2.1.331 ends the turn with when the upstream answers the third-party 400 (trimmed).
    private const string RefusalResult = """
        {"type":"result","subtype":"success","is_error":true,"num_turns":1,"api_error_status":400,"api_error_type":"invalid_request_error","stop_reason":"stop_sequence","session_id":"s","result":"API Error: 400 Third-party apps now draw from your extra usage, not your plan limits. Add more at claude.ai/settings/usage and keep going.","usage":{"input_tokens":0,"output_tokens":0}}
        """;

    [Fact]
    public void The_third_party_400_is_its_own_error_with_the_upstream_s_words_and_no_retry()
    {
        var decoder = new ClaudeTurnDecoder("s", firstTurnOfResume: false, structured: false);
        var ended = Assert.IsType<TurnEnded>(Assert.Single(decoder.Decode(ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(RefusalResult))!)));
        var error = ended.Error!;
        Assert.Equal(ProviderErrorKind.SubscriptionRefused, error.Kind);
        Assert.Contains("Third-party apps now draw from your extra usage", error.Message, StringComparison.Ordinal);

        var api = ProviderErrors.ToApiError(error);
        Assert.Equal(400, api.Status);
        Assert.Equal("subscription_third_party_refused", api.Code);
        Assert.True(api.NoRetry);
        Assert.Contains("claudeSystemPrompt", api.Message, StringComparison.Ordinal);
        Assert.Contains("Third-party apps now draw from your extra usage", api.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400, "API Error: 400 Third-party apps now draw from extra usage, not plan limits. Ask your workspace admin to add more and keep going.", true)]
    [InlineData(400, "API Error: 400 prompt is too long: 300000 tokens > 200000 maximum", false)]
    [InlineData(500, "API Error: 500 Third-party apps now draw from your extra usage", false)]
    [InlineData(400, "You have used your extra usage", false)]
    public void What_counts_as_the_third_party_refusal(int status, string message, bool refusal) =>
        Assert.Equal(refusal, ClaudeTurnDecoder.IsSubscriptionRefusal(status, message));

    [Theory]
    // `claude auth status --json` of 2.1.331 in a temp HOME: nothing; ANTHROPIC_API_KEY; CLAUDE_CODE_OAUTH_TOKEN; a claude.ai login in HOME/.claude.
    [InlineData(1, """{"loggedIn":false,"authMethod":"none","apiProvider":"firstParty"}""", "none")]
    [InlineData(0, """{"loggedIn":true,"authMethod":"api_key","apiProvider":"firstParty","apiKeySource":"ANTHROPIC_API_KEY"}""", "api_key")]
    [InlineData(0, """{"loggedIn":true,"authMethod":"oauth_token","apiProvider":"firstParty"}""", "oauth")]
    [InlineData(0, """{"loggedIn":true,"authMethod":"claude.ai","apiProvider":"firstParty","subscriptionType":"max"}""", "oauth")]
    [InlineData(0, "Logged in.", null)]
    [InlineData(0, """{"loggedIn":true}""", null)]
    [InlineData(1, "Not logged in.", "none")]
    public void Claude_login_kind_from_auth_status(int exit, string stdout, string? expected) =>
        Assert.Equal(expected, CliProbe.ClaudeLogin(exit, stdout));
}
