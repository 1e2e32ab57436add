namespace CodexApiServer.Providers.Claude;

/// <summary>
/// How a `claude -p` process is started for a request, as pure functions: its settings (the pool key)
/// and its argv. Nothing here starts a process or touches the disk; the argv goes to the process
/// starter as a list, never through a shell.
/// </summary>
public static class ClaudeArgs
{
    /// <summary>
    /// A chat request without instructions gets no system prompt of ours, as on the OpenAI API; an empty
    /// --system-prompt still replaces Claude Code's agent prompt (what is left is its one-line SDK identity).
    /// </summary>
    internal const string DefaultChatPrompt = "";

    /// <summary>
    /// Chat mode: no tools, no settings files, and none of the agent extras claude adds on its own: the
    /// made-up token budget reminder ("15000000 tokens left", 114 B a request) and the built-in plugins
    /// that read project memory files and help write plugins (the first one's prompt hook runs before
    /// every request). Values as --name=value so no prompt can be read as a flag.
    /// </summary>
    internal static readonly string[] ChatModeFlags =
    [
        "--tools", "", "--setting-sources", "",
        """--settings={"totalTokensReminder":"off","enabledPlugins":{"cc-plugin-agents-md@builtin":false,"cc-plugin-plugin-authoring@builtin":false}}""",
    ];

    /// <summary>
    /// Chat mode's environment on top of the server's: no requests upstream the caller did not make.
    /// Claude Code 2.1.331 names each new conversation with an extra model request ("You are naming a
    /// session", querySource generate_session_title) unless the account's feature flags say otherwise,
    /// and sends telemetry and update checks; CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC turns all of them off
    /// (its "essential traffic" mode). An agent keeps the operator's environment as it is.
    /// </summary>
    internal static IReadOnlyDictionary<string, string?> ChatEnvironment(IReadOnlyDictionary<string, string?>? extra)
    {
        var environment = extra is null ? new Dictionary<string, string?>(StringComparer.Ordinal) : new Dictionary<string, string?>(extra, StringComparer.Ordinal);
        environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
        return environment;
    }

    /// <summary>
    /// Longest prompt or schema passed as one argv string: one is capped (128 KiB on Linux, less on
    /// Windows), so a longer prompt goes through a file and a longer schema through stdin.
    /// </summary>
    internal const int MaxArgvChars = 16 * 1024;

    /// <summary>
    /// The MCP server through which claude calls the client's tools. It is an "sdk" server: claude asks
    /// it over the same stream-json pipe (control requests on stdout, answers on stdin), as the Claude
    /// Agent SDK serves its in-process tools, and the process answers from the tool definitions it was
    /// started with (<see cref="ClaudeToolServer"/>). Chosen over an HTTP MCP endpoint of ours: no port
    /// to open, no secret to hand over, nothing another local user could reach, and the tool call
    /// arrives on the very process whose turn it holds. The model sees each tool as mcp__client__NAME.
    /// </summary>
    public const string ToolServer = "client";

    /// <summary>How claude prefixes the tools of <see cref="ToolServer"/>, upstream and in tool_use blocks.</summary>
    public const string ToolPrefix = "mcp__" + ToolServer + "__";

    /// <summary>--mcp-config's value: our sdk server only; its tools are listed over stdin, not in argv.</summary>
    internal const string McpConfig = """{"mcpServers":{"client":{"type":"sdk","name":"client"}}}""";

    /// <summary>What a process for <paramref name="request"/> is started with; idle processes are pooled by it.</summary>
    /// <param name="appendPrompt">
    /// claudeSystemPrompt "append": Claude Code keeps its own system prompt and the request's instructions
    /// (if any) are appended to it; chat mode still turns the tools off.
    /// </param>
    public static ClaudeSessionKey KeyOf(TurnRequest request, bool agentMode, bool appendPrompt = false) => new(
        request.Model.CliModel,
        SystemPrompt(request.Instructions, request.Messages) ?? (agentMode || appendPrompt ? null : DefaultChatPrompt),
        MapEffort(request.ReasoningEffort),
        request.OutputSchema is { } schema ? schema.GetRawText() : null,
        ToolDefinition.Digest(DeclaredTools(request)),
        appendPrompt);

    /// <summary>
    /// The client tools a process for <paramref name="request"/> declares, or null. tool_choice none on a
    /// new conversation declares none at all (the model cannot call what it does not see); on a
    /// continued one the session keeps its tools (restarting it would only trade a warm process for an
    /// instruction the model already gets) and the instruction line asks for no call.
    /// </summary>
    public static IReadOnlyList<ToolDefinition>? DeclaredTools(TurnRequest request) =>
        request.Tools is not { Count: > 0 } tools || (request.ToolChoice?.Mode == ToolChoiceMode.None && request.SessionId is null)
            ? null
            : tools;

    /// <summary>
    /// The system prompt for a new session: the request's instructions plus any system/developer
    /// messages, in order. Null when there are none (the CLI then uses its own).
    /// </summary>
    public static string? SystemPrompt(string? instructions, IReadOnlyList<TurnMessage> messages)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(instructions))
        {
            parts.Add(instructions);
        }
        foreach (var message in messages)
        {
            if (message.Role is "system" or "developer")
            {
                var text = string.Concat(message.Parts.OfType<TextPart>().Select(p => p.Text));
                if (!string.IsNullOrWhiteSpace(text))
                {
                    parts.Add(text);
                }
            }
        }
        return parts.Count == 0 ? null : string.Join("\n\n", parts);
    }

    /// <summary>The request's reasoning effort as a claude --effort value; null leaves the model's default.</summary>
    public static string? MapEffort(string? effort) => effort switch
    {
        "none" or "minimal" or "low" => "low",
        "medium" or "high" or "xhigh" or "max" => effort,
        _ => null,
    };

    /// <summary>True when the system prompt is too long for argv: the caller writes it to a file and passes that to <see cref="Build"/>.</summary>
    public static bool PromptNeedsFile(ClaudeSessionKey key) => key.SystemPrompt is { Length: > MaxArgvChars };

    /// <summary>
    /// The schema too long for --json-schema's argv string, or null: the caller sends it in the
    /// initialize request on stdin (<see cref="ClaudeProtocol.InitializeLine"/>).
    /// </summary>
    public static string? SchemaForStdin(ClaudeSessionKey key) => key.Schema is { Length: > MaxArgvChars } big ? big : null;

    /// <summary>The argv of a stream-json `claude -p` for one session.</summary>
    /// <param name="resume">Continue <paramref name="sessionId"/> from its transcript (--resume) rather than start it.</param>
    /// <param name="systemPromptFile">Where the system prompt was written when <see cref="PromptNeedsFile"/>; otherwise unused.</param>
    public static List<string> Build(ClaudeSessionKey key, string sessionId, bool resume, bool agentMode, string? systemPromptFile)
    {
        // Values as --name=value: a prompt that starts with "-" must not be read as another flag.
        var args = new List<string>
        {
            "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
            "--include-partial-messages", "--model=" + key.Model,
        };
        if (key.SystemPrompt is not null)
        {
            var flag = key.AppendPrompt ? "--append-system-prompt" : "--system-prompt";
            args.Add(PromptNeedsFile(key)
                ? flag + "-file=" + (systemPromptFile ?? throw new ArgumentNullException(nameof(systemPromptFile), "a prompt this long goes through a file"))
                : flag + "=" + key.SystemPrompt);
        }
        if (key.Effort is not null)
        {
            args.Add("--effort=" + key.Effort);
        }
        if (key.Schema is not null && SchemaForStdin(key) is null)
        {
            args.Add("--json-schema=" + key.Schema);
        }
        if (agentMode)
        {
            args.AddRange(["--permission-mode", "acceptEdits"]);
        }
        else
        {
            // Plain chat should not carry an agent's prompt and tools upstream.
            args.AddRange(ChatModeFlags);
        }
        if (key.Tools is not null)
        {
            // Only our server's tools are allowed without asking (-p has nobody to ask). In chat mode no
            // other MCP server of the operator's may load: the model gets the client's tools and nothing
            // else (--tools "" keeps the built-in ones off; MCP tools are not built-in, checked with 2.1.331).
            // An agent keeps the operator's MCP servers, as it does without client tools.
            args.Add("--mcp-config=" + McpConfig);
            if (!agentMode)
            {
                args.Add("--strict-mcp-config");
            }
            args.Add("--allowedTools=" + ToolPrefix + "*");
        }
        args.AddRange(resume ? ["--resume", sessionId] : ["--session-id", sessionId]);
        return args;
    }
}
