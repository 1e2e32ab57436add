using System.Text.Json;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Tests.Providers;

/// <summary>The argv and settings of a claude process, built without starting one.</summary>
public sealed class ClaudeArgsTests
{
    private const string SessionId = "3f2c8a4e-1b7d-4c9e-a5f6-0d1e2f3a4b5c";

    private static TurnRequest Request(string? instructions = null, string? effort = null, string? schema = null, params TurnMessage[] messages) =>
        new(ClaudeTestHarness.Model("claude-sonnet-4-5"), instructions, messages.Length == 0 ? [TurnMessage.User("hi")] : messages,
            ReasoningEffort: effort, OutputSchema: schema is null ? null : JsonDocument.Parse(schema).RootElement.Clone());

    private static List<string> Argv(TurnRequest request, bool resume = false, bool agentMode = false) =>
        ClaudeArgs.Build(ClaudeArgs.KeyOf(request, agentMode), SessionId, resume, agentMode, systemPromptFile: null);

    [Fact]
    public void Chat_mode_has_no_tools_no_settings_files_and_an_empty_system_prompt_when_none_is_given()
    {
        var argv = Argv(Request());
        Assert.Equal(
        [
            "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
            "--include-partial-messages", "--model=claude-sonnet-4-5", "--system-prompt=",
            "--tools", "", "--setting-sources", "",
            """--settings={"totalTokensReminder":"off","enabledPlugins":{"cc-plugin-agents-md@builtin":false,"cc-plugin-plugin-authoring@builtin":false}}""",
            "--session-id", SessionId,
        ], argv);
        Assert.DoesNotContain("--no-session-persistence", argv);
        Assert.DoesNotContain(argv, a => a.StartsWith("--effort", StringComparison.Ordinal) || a.StartsWith("--json-schema", StringComparison.Ordinal));
    }

    [Fact]
    public void Agent_mode_keeps_claude_s_own_prompt_and_tools_and_accepts_edits()
    {
        var argv = Argv(Request(), agentMode: true);
        Assert.DoesNotContain(argv, a => a.StartsWith("--system-prompt", StringComparison.Ordinal));
        Assert.DoesNotContain("--tools", argv);
        Assert.DoesNotContain(argv, a => a.StartsWith("--settings", StringComparison.Ordinal));
        Assert.Equal(["--permission-mode", "acceptEdits", "--session-id", SessionId], argv[^4..]);
    }

    [Fact]
    public void A_known_session_resumes_a_new_one_is_named()
    {
        var fresh = Argv(Request());
        var resumed = Argv(Request(), resume: true);
        Assert.Equal(["--session-id", SessionId], fresh[^2..]);
        Assert.Equal(["--resume", SessionId], resumed[^2..]);
        Assert.DoesNotContain("--session-id", resumed);
        Assert.DoesNotContain("--resume", fresh);
    }

    [Fact]
    public void Values_are_one_argv_string_each_so_a_prompt_or_model_cannot_become_a_flag()
    {
        var argv = Argv(Request("-p --dangerously-skip-permissions\n\"quoted\" $(rm -rf /)"));
        Assert.Contains("--system-prompt=-p --dangerously-skip-permissions\n\"quoted\" $(rm -rf /)", argv);
        Assert.DoesNotContain("--dangerously-skip-permissions", argv);
        Assert.Contains("--model=claude-sonnet-4-5", argv);
    }

    [Theory]
    [InlineData("none", "low")]
    [InlineData("minimal", "low")]
    [InlineData("low", "low")]
    [InlineData("medium", "medium")]
    [InlineData("high", "high")]
    [InlineData("xhigh", "xhigh")]
    [InlineData("max", "max")]
    [InlineData(null, null)]
    [InlineData("bogus", null)]
    public void Effort_maps_to_claude_s_levels(string? requested, string? expected)
    {
        Assert.Equal(expected, ClaudeArgs.MapEffort(requested));
        var argv = Argv(Request(effort: requested));
        if (expected is null)
        {
            Assert.DoesNotContain(argv, a => a.StartsWith("--effort", StringComparison.Ordinal));
        }
        else
        {
            Assert.Contains("--effort=" + expected, argv);
        }
    }

    [Fact]
    public void System_prompt_joins_instructions_and_system_and_developer_messages_in_order()
    {
        var request = Request("Be brief.", null, null,
            new TurnMessage("system", [new TextPart("Sys one.")]),
            TurnMessage.User("hi"),
            new TurnMessage("developer", [new TextPart("Dev "), new TextPart("two.")]),
            new TurnMessage("system", [new TextPart("  ")]));
        Assert.Equal("Be brief.\n\nSys one.\n\nDev two.", ClaudeArgs.SystemPrompt(request.Instructions, request.Messages));
        Assert.Contains("--system-prompt=Be brief.\n\nSys one.\n\nDev two.", Argv(request));
        Assert.Null(ClaudeArgs.SystemPrompt("  ", [TurnMessage.User("hi")]));
    }

    [Fact]
    public void The_pool_key_holds_what_a_process_is_started_with()
    {
        var key = ClaudeArgs.KeyOf(Request("Be brief.", "xhigh", """{"type":"object"}"""), agentMode: false);
        Assert.Equal(new ClaudeSessionKey("claude-sonnet-4-5", "Be brief.", "xhigh", """{"type":"object"}"""), key);
        Assert.Equal(new ClaudeSessionKey("claude-sonnet-4-5", "", null, null), ClaudeArgs.KeyOf(Request(), agentMode: false));
        Assert.Equal(new ClaudeSessionKey("claude-sonnet-4-5", null, null, null), ClaudeArgs.KeyOf(Request(), agentMode: true));
    }

    [Fact]
    public void A_small_schema_goes_on_argv_a_long_one_through_stdin_initialize()
    {
        var small = ClaudeArgs.KeyOf(Request(schema: """{"type":"object"}"""), agentMode: false);
        Assert.Null(ClaudeArgs.SchemaForStdin(small));
        Assert.Contains("""--json-schema={"type":"object"}""", ClaudeArgs.Build(small, SessionId, false, false, null));

        var bigSchema = $$"""{"type":"object","description":"{{new string('d', 20_000)}}"}""";
        var big = ClaudeArgs.KeyOf(Request(schema: bigSchema), agentMode: false);
        Assert.Equal(bigSchema, ClaudeArgs.SchemaForStdin(big));
        Assert.DoesNotContain(ClaudeArgs.Build(big, SessionId, false, false, null), a => a.StartsWith("--json-schema", StringComparison.Ordinal));

        var init = JsonDocument.Parse(ClaudeProtocol.InitializeLine(bigSchema)).RootElement;
        Assert.Equal("control_request", init.GetProperty("type").GetString());
        Assert.Equal("initialize", init.GetProperty("request").GetProperty("subtype").GetString());
        Assert.Equal(bigSchema, init.GetProperty("request").GetProperty("jsonSchema").GetRawText());
    }

    [Fact]
    public void A_long_system_prompt_goes_through_the_file_the_caller_wrote()
    {
        var key = ClaudeArgs.KeyOf(Request(new string('p', 20_000)), agentMode: false);
        Assert.True(ClaudeArgs.PromptNeedsFile(key));
        Assert.False(ClaudeArgs.PromptNeedsFile(ClaudeArgs.KeyOf(Request("short"), agentMode: false)));
        var argv = ClaudeArgs.Build(key, SessionId, false, false, "/data/prompts/abc.txt");
        Assert.Contains("--system-prompt-file=/data/prompts/abc.txt", argv);
        Assert.DoesNotContain(argv, a => a.StartsWith("--system-prompt=", StringComparison.Ordinal));
        Assert.Throws<ArgumentNullException>(() => ClaudeArgs.Build(key, SessionId, false, false, null));
    }

    private static TurnRequest WithTools(string? sessionId = null, ToolChoice? choice = null, params string[] names) =>
        new(ClaudeTestHarness.Model("claude-sonnet-4-5"), null, [TurnMessage.User("hi")], SessionId: sessionId,
            Tools: [.. names.Select(n => new ToolDefinition(n, null, JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone()))], ToolChoice: choice);

    [Fact]
    public void Client_tools_load_our_sdk_mcp_server_only_allow_only_its_tools_and_keep_built_in_tools_off()
    {
        var argv = Argv(WithTools(names: "get_weather"));
        Assert.Equal(
        [
            """--mcp-config={"mcpServers":{"client":{"type":"sdk","name":"client"}}}""", "--strict-mcp-config", "--allowedTools=mcp__client__*",
            "--session-id", SessionId,
        ], argv[^5..]);
        Assert.Equal("", argv[argv.IndexOf("--tools") + 1]);
        // The tool definitions are not in argv: claude lists them from the process over stdin.
        Assert.DoesNotContain(argv, a => a.Contains("get_weather", StringComparison.Ordinal));

        var agent = Argv(WithTools(names: "get_weather"), agentMode: true);
        Assert.Contains("--allowedTools=mcp__client__*", agent);
        Assert.DoesNotContain("--strict-mcp-config", agent);
        Assert.DoesNotContain(Argv(Request()), a => a.Contains("mcp", StringComparison.Ordinal));
    }

    [Fact]
    public void The_tool_set_is_part_of_the_key_and_tool_choice_none_declares_none_on_a_new_session_only()
    {
        var weather = ClaudeArgs.KeyOf(WithTools(names: "get_weather"), agentMode: false);
        Assert.Equal(ToolDefinition.Digest(WithTools(names: "get_weather").Tools), weather.Tools);
        Assert.NotEqual(weather, ClaudeArgs.KeyOf(WithTools(names: "get_time"), agentMode: false));
        Assert.Equal(weather, ClaudeArgs.KeyOf(WithTools(names: "get_weather"), agentMode: false));
        Assert.Null(ClaudeArgs.KeyOf(Request(), agentMode: false).Tools);

        var none = WithTools(choice: new ToolChoice(ToolChoiceMode.None), names: "get_weather");
        Assert.Null(ClaudeArgs.DeclaredTools(none));
        Assert.Null(ClaudeArgs.KeyOf(none, agentMode: false).Tools);
        Assert.DoesNotContain(Argv(none), a => a.Contains("mcp", StringComparison.Ordinal));
        // A continued session keeps its tools (and its process): the instruction line asks for no call.
        var continued = WithTools(SessionId, new ToolChoice(ToolChoiceMode.None), "get_weather");
        Assert.Equal(weather.Tools, ClaudeArgs.KeyOf(continued, agentMode: false).Tools);
    }
}
