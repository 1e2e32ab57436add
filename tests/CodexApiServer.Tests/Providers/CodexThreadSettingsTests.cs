using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;

using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>The params the Codex provider sends for thread/start, thread/resume, turn/start and initialize: no process.</summary>
public sealed class CodexThreadSettingsTests
{
    private static readonly ModelEntry Model = new("gpt-5.2-codex", ProviderKind.Codex, 0, "gpt-5.2-codex");
    private static readonly ServerConfig Chat = new();
    private static readonly ServerConfig Agent = new() { Mode = "agent", AgentWorkingDirectory = "/srv/work" };

    private static JsonNode Render(Action<Utf8JsonWriter> write) => WrittenJson.Of(write);

    private static TurnRequest Request(string? instructions = null, string? effort = null, JsonElement? schema = null) =>
        new(Model, instructions, [TurnMessage.User("hi")], effort, schema);

    [Fact]
    public void A_chat_thread_is_read_only_in_its_scratch_folder_and_told_our_callers_instructions()
    {
        var p = Render(w => CodexThreadSettings.WriteThreadStart(w, Chat, Request("Answer in French."), "/data/scratch/codex-1", []));

        Assert.Equal("gpt-5.2-codex", (string?)p["model"]);
        Assert.Equal("never", (string?)p["approvalPolicy"]);
        Assert.Equal("/data/scratch/codex-1", (string?)p["cwd"]);
        Assert.Equal("read-only", (string?)p["sandbox"]);
        Assert.Equal("Answer in French.", (string?)p["baseInstructions"]);
        Assert.Null(p["developerInstructions"]);
        // In memory only: no rollout written each turn (a conversation whose thread is gone is replayed)...
        Assert.True((bool)p["ephemeral"]!);
        // ... unless a stored response's conversation may be continued by id after a restart: then on disk, to be resumed.
        var stored = Render(w => CodexThreadSettings.WriteThreadStart(w, Chat, Request("Answer in French.") with { Resumable = true }, "/data/scratch/codex-1", []));
        Assert.False((bool)stored["ephemeral"]!);
    }

    [Fact]
    public void A_chat_thread_without_instructions_gets_the_short_default_prompt()
    {
        var p = Render(w => CodexThreadSettings.WriteThreadStart(w, Chat, Request(), "/s", []));
        Assert.Equal(CodexThreadSettings.DefaultBaseInstructions, (string?)p["baseInstructions"]);
    }

    [Fact]
    public void A_chat_thread_gets_no_tools_hooks_mcp_servers_or_notify_program()
    {
        var config = Render(w => CodexThreadSettings.WriteThreadStart(w, Chat, Request(), "/s", ["docs", "github"]))["config"]!;

        var features = config["features"]!.AsObject();
        foreach (var feature in (string[])["shell_tool", "unified_exec", "multi_agent", "hooks", "apps", "plugins", "view_image"])
        {
            Assert.False((bool)features[feature]!, feature);
        }
        Assert.All(features, f => Assert.False((bool)f.Value!, f.Key));
        Assert.Equal("disabled", (string?)config["web_search"]);
        Assert.False((bool)config["include_permissions_instructions"]!);
        Assert.False((bool)config["include_environment_context"]!);
        Assert.False((bool)config["skills"]!["include_instructions"]!);
        Assert.False((bool)config["tools"]!["experimental_request_user_input"]!["enabled"]!);
        var mcp = config["mcp_servers"]!.AsObject();
        Assert.Equal(new[] { "docs", "github" }, mcp.Select(s => s.Key));
        Assert.All(mcp, s => Assert.False((bool)s.Value!["enabled"]!));
        Assert.Empty(config["notify"]!.AsArray());
    }

    [Fact]
    public void The_chat_config_alone_is_what_the_bench_sends()
    {
        var p = Render(w => CodexThreadSettings.WriteChatConfig(w, []));
        Assert.Empty(p["config"]!["mcp_servers"]!.AsObject());
        Assert.False((bool)p["config"]!["features"]!["shell_tool"]!);
    }

    [Fact]
    public void An_agent_thread_keeps_codexs_prompt_and_tools_and_writes_only_in_the_configured_folder()
    {
        var p = Render(w => CodexThreadSettings.WriteThreadStart(w, Agent, Request("Use tabs."), "/s", []));

        Assert.Equal("/srv/work", (string?)p["cwd"]);
        Assert.Equal("workspace-write", (string?)p["sandbox"]);
        Assert.Equal("never", (string?)p["approvalPolicy"]);
        Assert.Equal("Use tabs.", (string?)p["developerInstructions"]);
        Assert.Null(p["baseInstructions"]);
        Assert.Null(p["config"]);
        // Kept on disk, as codex's own threads are, so it is resumed after a restart.
        Assert.False((bool)p["ephemeral"]!);
        Assert.True(CodexThreadSettings.IsAgentMode(Agent));
        Assert.False(CodexThreadSettings.IsAgentMode(Chat));
    }

    [Fact]
    public void A_resume_names_the_thread_with_the_same_settings_and_skips_its_turns()
    {
        var p = Render(w => CodexThreadSettings.WriteThreadResume(w, Chat, "thread-7", Request(), "/s", ["docs"]));

        Assert.Equal("thread-7", (string?)p["threadId"]);
        Assert.True((bool)p["excludeTurns"]!);
        Assert.Null(p["ephemeral"]);
        Assert.Equal("read-only", (string?)p["sandbox"]);
        Assert.False((bool)p["config"]!["mcp_servers"]!["docs"]!["enabled"]!);
    }

    [Fact]
    public void A_turn_start_carries_the_input_model_effort_and_output_schema()
    {
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"string"}}}""");
        var p = Render(w => CodexThreadSettings.WriteTurnStart(w, "thread-1", Request(effort: "high", schema: schema.RootElement)));

        Assert.Equal("thread-1", (string?)p["threadId"]);
        Assert.Equal("gpt-5.2-codex", (string?)p["model"]);
        Assert.Equal("high", (string?)p["effort"]);
        Assert.Equal("object", (string?)p["outputSchema"]!["type"]);
        var input = Assert.Single(p["input"]!.AsArray());
        Assert.Equal("text", (string?)input!["type"]);
        Assert.Equal("hi", (string?)input["text"]);
    }

    [Fact]
    public void A_turn_start_without_effort_or_schema_leaves_them_to_codex()
    {
        var p = Render(w => CodexThreadSettings.WriteTurnStart(w, "thread-1", Request()));
        Assert.Null(p["effort"]);
        Assert.Null(p["outputSchema"]);
    }

    [Fact]
    public void The_mcp_servers_to_switch_off_are_read_from_the_effective_config()
    {
        using var answer = JsonDocument.Parse("""{"config":{"model":"x","mcp_servers":{"docs":{"command":"npx"},"github":{"url":"https://x"}}}}""");
        Assert.Equal(new[] { "docs", "github" }, CodexThreadSettings.McpServerNames(answer.RootElement));

        using var none = JsonDocument.Parse("""{"config":{"model":"x"}}""");
        Assert.Empty(CodexThreadSettings.McpServerNames(none.RootElement));
    }

    [Fact]
    public void Initialize_names_us_and_asks_for_the_experimental_api()
    {
        var p = Render(CodexAppServer.WriteInitialize);
        Assert.Equal("codex-api-server", (string?)p["clientInfo"]!["name"]);
        Assert.Equal(AppInfo.Version, (string?)p["clientInfo"]!["version"]);
        Assert.True((bool)p["capabilities"]!["experimentalApi"]!);
    }
}
