using System.Text.Json;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// The params of thread/start, thread/resume and turn/start: what a thread may do and what it is told.
/// Pure: the config and the request in, JSON out.
/// </summary>
internal static class CodexThreadSettings
{
    public const string DefaultBaseInstructions = "You are a helpful assistant.";

    /// <summary>Whether threads run as the operator's agent (codex's own prompt and tools) rather than as plain chat.</summary>
    public static bool IsAgentMode(ServerConfig config) => config.Mode == "agent";

    /// <summary>
    /// Whether a new thread for <paramref name="request"/> is ephemeral: codex keeps it in memory only and writes no
    /// rollout file or thread record for it, which takes ~8 ms off the start of every turn (codex 0.169, measured
    /// against the loopback mock). So are chat threads that nothing will ask to continue by id: a conversation whose
    /// thread is gone (the app-server restarted, or the thread was unloaded) is replayed into a new thread with its
    /// earlier turns as items (<see cref="CodexHistory"/>). A stored response's thread (<see cref="TurnRequest.Resumable"/>)
    /// and an agent's are kept on disk, so they outlive a restart (thread/resume), as codex's own are.
    /// </summary>
    public static bool Ephemeral(ServerConfig config, TurnRequest request) => !IsAgentMode(config) && !request.Resumable;

    /// <summary>thread/start: a new thread, ephemeral or kept on disk (<see cref="Ephemeral"/>).</summary>
    public static void WriteThreadStart(Utf8JsonWriter w, ServerConfig config, TurnRequest request, string scratch, IReadOnlyList<string> mcpServers, bool codexBaseInstructions = false)
    {
        WriteThreadSettings(w, config, request, scratch, mcpServers, codexBaseInstructions);
        w.WriteBoolean("ephemeral", Ephemeral(config, request));
        WriteDynamicTools(w, DeclaredTools(request));
    }

    /// <summary>
    /// The client's tools a new thread declares: none when tool_choice is `none` (the model cannot call what
    /// it does not have). Fixed for the thread's life: thread/resume and turn/start cannot change them.
    /// </summary>
    public static IReadOnlyList<ToolDefinition> DeclaredTools(TurnRequest request) =>
        request.ToolChoice?.Mode == ToolChoiceMode.None || request.Tools is null ? [] : request.Tools;

    /// <summary>The key of the tool set a new thread for <paramref name="request"/> declares (null: none).</summary>
    public static string? ToolsDigest(TurnRequest request) => ToolDefinition.Digest(DeclaredTools(request));

    /// <summary>
    /// Whether a turn of <paramref name="request"/> may run on a thread that declared the tool set
    /// <paramref name="threadTools"/>: the same tools, or none when the request forbids calling them.
    /// </summary>
    public static bool ToolsFit(string? threadTools, TurnRequest request) =>
        threadTools == ToolDefinition.Digest(request.Tools) || threadTools == ToolsDigest(request);

    /// <summary>
    /// The client's tools as codex dynamic tools (experimental API): a call of one is a request to us
    /// (item/tool/call), so nothing runs on the server. With them, raw response events: only they say
    /// when the model's step is over (rawResponse/completed), which is when its parallel calls are all known.
    /// </summary>
    private static void WriteDynamicTools(Utf8JsonWriter w, IReadOnlyList<ToolDefinition> tools)
    {
        if (tools.Count == 0)
        {
            return;
        }
        w.WriteStartArray("dynamicTools");
        foreach (var tool in tools)
        {
            w.WriteStartObject();
            w.WriteString("type", "function");
            w.WriteString("name", tool.Name);
            // Required by codex 0.169's schema, even when empty.
            w.WriteString("description", tool.Description ?? "");
            w.WritePropertyName("inputSchema");
            tool.Parameters.WriteTo(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("experimentalRawEvents", true);
    }

    /// <summary>thread/resume: a thread of an earlier process, with this request's settings.</summary>
    public static void WriteThreadResume(Utf8JsonWriter w, ServerConfig config, string threadId, TurnRequest request, string scratch, IReadOnlyList<string> mcpServers, bool codexBaseInstructions = false)
    {
        w.WriteString("threadId", threadId);
        WriteThreadSettings(w, config, request, scratch, mcpServers, codexBaseInstructions);
        w.WriteBoolean("excludeTurns", true);
    }

    /// <param name="codexBaseInstructions">
    /// The upstream refused our base instructions (the ChatGPT backend has accepted only Codex's own at times):
    /// Codex keeps its own, and the caller's go as developer instructions.
    /// </param>
    public static void WriteThreadSettings(Utf8JsonWriter w, ServerConfig config, TurnRequest request, string scratch, IReadOnlyList<string> mcpServers, bool codexBaseInstructions = false)
    {
        w.WriteString("model", request.Model.CliModel);
        w.WriteString("approvalPolicy", "never");
        if (IsAgentMode(config))
        {
            // The operator chose an agent: Codex's own prompt and tools, writing inside the configured folder only.
            w.WriteString("cwd", config.AgentWorkingDirectory);
            w.WriteString("sandbox", "workspace-write");
            if (!string.IsNullOrEmpty(request.Instructions))
            {
                w.WriteString("developerInstructions", request.Instructions);
            }
            return;
        }
        w.WriteString("cwd", scratch);
        w.WriteString("sandbox", "read-only");
        if (codexBaseInstructions)
        {
            if (!string.IsNullOrEmpty(request.Instructions))
            {
                w.WriteString("developerInstructions", request.Instructions);
            }
        }
        else
        {
            // Our caller's instructions replace the coding-agent prompt: plain chat need not pay for it.
            w.WriteString("baseInstructions", string.IsNullOrEmpty(request.Instructions) ? DefaultBaseInstructions : request.Instructions);
        }
        WriteChatConfig(w, mcpServers);
    }

    /// <summary>
    /// Config overrides that leave codex's agent machinery out of a chat thread. By default every
    /// request carries ~17 KB of tool definitions (shell, multi-agent, goals, web search, user
    /// questions, image viewer) and ~3 KB of skills, permissions and environment context, which a
    /// read-only thread that approves nothing cannot use; without them a plain turn is ~1.7 KB.
    /// The environment context also held the date and the scratch path: like the OpenAI API, we
    /// leave the date to the caller's system message. Nothing of the operator's runs for a chat
    /// thread either: no MCP server, no hook, no `notify` program. (Profiles need `--profile`, which
    /// we never pass; codex 0.169 refuses a `profile` key in config.toml.)
    /// </summary>
    public static void WriteChatConfig(Utf8JsonWriter w, IReadOnlyList<string> mcpServers)
    {
        w.WriteStartObject("config");
        w.WriteStartObject("features");
        // The rest cost time at each turn's start (about 5 ms together for the second group, measured with
        // codex 0.169) and give a tool-less thread that approves nothing nothing; with hooks off, no
        // hook of the user's codex config runs for an API request either.
        foreach (var feature in (ReadOnlySpan<string>)["multi_agent", "goals", "unified_exec", "shell_tool", "view_image",
            "shell_snapshot", "apps", "plugins",
            "skill_search", "hooks", "tool_suggest", "sleep_tool", "guardian_approval", "workspace_dependencies", "mentions_v2"])
        {
            w.WriteBoolean(feature, false);
        }
        w.WriteEndObject();
        w.WriteString("web_search", "disabled");
        w.WriteBoolean("include_permissions_instructions", false);
        w.WriteBoolean("include_environment_context", false);
        w.WriteStartObject("skills");
        w.WriteBoolean("include_instructions", false);
        w.WriteEndObject();
        w.WriteStartObject("tools");
        w.WriteStartObject("experimental_request_user_input");
        w.WriteBoolean("enabled", false);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("mcp_servers");
        foreach (var name in mcpServers)
        {
            w.WriteStartObject(name);
            w.WriteBoolean("enabled", false);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("notify");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>turn/start: the new messages, the model, and the request's effort and output schema if any.</summary>
    public static void WriteTurnStart(Utf8JsonWriter w, string threadId, TurnRequest request)
    {
        w.WriteString("threadId", threadId);
        CodexProtocol.WriteInput(w, CodexHistory.Split(request.Messages).Input, ToolChoice.Instruction(request));
        w.WriteString("model", request.Model.CliModel);
        if (!string.IsNullOrEmpty(request.ReasoningEffort))
        {
            w.WriteString("effort", request.ReasoningEffort);
        }
        if (request.OutputSchema is { } schema)
        {
            w.WritePropertyName("outputSchema");
            schema.WriteTo(w);
        }
    }

    /// <summary>The names of the MCP servers in a config/read answer (the effective config for a folder).</summary>
    public static IReadOnlyList<string> McpServerNames(JsonElement configRead)
    {
        var servers = CodexProtocol.Prop(CodexProtocol.Prop(configRead, "config"), "mcp_servers");
        return servers.ValueKind == JsonValueKind.Object ? [.. servers.EnumerateObject().Select(p => p.Name)] : [];
    }
}
