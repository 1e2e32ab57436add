using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// An Anthropic Messages request checked and turned into a <see cref="MessagesTurn"/>; each fault is an
/// <see cref="InputException"/> naming the field in Anthropic's dotted form (messages.0.content.1.type).
/// </summary>
internal static class MessagesParser
{
    /// <param name="requireMaxTokens">The API requires max_tokens on a message; count_tokens does not take it.</param>
    internal static MessagesTurn Parse(MessagesRequest body, string defaultModel, bool requireMaxTokens)
    {
        if (requireMaxTokens && body.MaxTokens is null)
        {
            throw new InputException("max_tokens: Field required", "max_tokens", "missing_required_parameter");
        }
        if (body.MaxTokens is < 1)
        {
            throw new InputException("max_tokens: must be greater than or equal to 1", "max_tokens");
        }
        if (body.Messages.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            throw new InputException("messages: Field required", "messages", "missing_required_parameter");
        }
        if (body.Messages.ValueKind != JsonValueKind.Array)
        {
            throw new InputException("messages: Input should be a valid list", "messages", "invalid_type");
        }
        if (body.Messages.GetArrayLength() == 0)
        {
            throw new InputException("messages: at least one message is required", "messages", "empty_array");
        }
        var conversation = new List<TurnMessage>();
        var results = new List<ToolResult>();
        var instructions = new List<string>();
        if (System(body.System, "system") is { } system)
        {
            instructions.Add(system);
        }
        var i = 0;
        foreach (var message in body.Messages.EnumerateArray())
        {
            var path = $"messages.{i++}";
            // Claude Code puts its environment notes in a system message among the others (its per-turn-control
            // beta): they join the instructions, wherever they stand.
            if (message.ValueKind == JsonValueKind.Object && TurnInput.Str(message, "role") == "system")
            {
                if (System(message.TryGetProperty("content", out var content) ? content : default, path + ".content") is { } text)
                {
                    instructions.Add(text);
                }
                continue;
            }
            results = ParseMessage(message, path, conversation.Count == 0, conversation);
        }
        if (conversation.Count == 0)
        {
            throw new InputException("messages: at least one user message is required", "messages");
        }
        var tools = Tools(body.Tools);
        var (choice, parallel) = ToolChoice(body.ToolChoice, tools);
        return new MessagesTurn(Model(body.Model, defaultModel), instructions.Count > 0 ? string.Join("\n\n", instructions) : null, conversation,
            Effort(body.Thinking) ?? OutputEffort(body.Ignored), tools, choice, parallel, body.Stream == true, results);
    }

    /// <summary>
    /// Claude Code asks for `claude-sonnet-4-5[1m]` (the 1M-token context): the suffix is a setting of
    /// the client, not part of the model's name, and is dropped.
    /// </summary>
    internal static string Model(string? model, string defaultModel)
    {
        if (model is { } named && named.EndsWith(']') && named.LastIndexOf('[') is > 0 and var open)
        {
            model = named[..open];
        }
        return TurnInput.Model(model, defaultModel);
    }

    /// <summary>System text: a string or text blocks (cache_control on them is accepted and means nothing here).</summary>
    private static string? System(JsonElement system, string path) => system.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => null,
        JsonValueKind.String => system.GetString() is { Length: > 0 } text ? text : null,
        JsonValueKind.Array => string.Join("\n\n", system.EnumerateArray().Select((b, i) => Text(b, $"{path}.{i}"))) is { Length: > 0 } joined ? joined : null,
        _ => throw new InputException($"{path}: Input should be a valid string or a list of text blocks", path, "invalid_type"),
    };

    /// <summary>output_config.effort (low, medium, high, max), which Claude Code sends with adaptive thinking.</summary>
    private static string? OutputEffort(Dictionary<string, JsonElement>? ignored) =>
        ignored is not null && ignored.TryGetValue("output_config", out var config) && config.ValueKind == JsonValueKind.Object
            && TurnInput.Str(config, "effort") is { } effort && TurnInput.ReasoningEfforts.Contains(effort)
            ? effort
            : null;

    private static string Text(JsonElement block, string path) =>
        block.ValueKind == JsonValueKind.Object && TurnInput.Str(block, "type") == "text" && TurnInput.Str(block, "text") is { } text
            ? text
            : throw new InputException($"{path}: expected a text block ({{\"type\": \"text\", \"text\": ...}})", path);

    /// <returns>The tool results this message carries (empty for an assistant message or one without).</returns>
    private static List<ToolResult> ParseMessage(JsonElement message, string path, bool first, List<TurnMessage> conversation)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"{path}: Input should be an object", path, "invalid_type");
        }
        var role = TurnInput.Str(message, "role") ?? throw new InputException($"{path}.role: Field required", path + ".role", "missing_required_parameter");
        if (role is not ("user" or "assistant"))
        {
            throw new InputException($"{path}.role: Input should be 'user', 'assistant' or 'system'", path + ".role");
        }
        if (first && role != "user")
        {
            throw new InputException($"{path}.role: the first message must use the \"user\" role", path + ".role");
        }
        if (!message.TryGetProperty("content", out var content) || content.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            throw new InputException($"{path}.content: Field required", path + ".content", "missing_required_parameter");
        }
        var parts = new List<TurnPart>();
        var results = new List<ToolResultPart>();
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                parts.Add(new TextPart(content.GetString()!));
                break;
            case JsonValueKind.Array:
                var j = 0;
                foreach (var block in content.EnumerateArray())
                {
                    var at = $"{path}.content.{j++}";
                    switch (Block(block, at, role))
                    {
                        case ToolResultPart result:
                            results.Add(result);
                            break;
                        case { } part:
                            parts.Add(part);
                            break;
                    }
                }
                break;
            default:
                throw new InputException($"{path}.content: Input should be a valid string or a list of content blocks", path + ".content", "invalid_type");
        }
        if (results.Count > 0)
        {
            // The results answer the calls before them; text the client put beside them (Claude Code adds
            // reminders) goes with the last result, since a held turn takes only results.
            var text = string.Concat(parts.OfType<TextPart>().Select(t => t.Text));
            if (text.Length > 0)
            {
                results[^1] = results[^1] with { Output = results[^1].Output + "\n\n" + text };
            }
            conversation.Add(new TurnMessage("tool", [.. results]));
            var rest = parts.Where(p => p is not TextPart).ToList();
            if (rest.Count > 0)
            {
                conversation.Add(new TurnMessage("user", rest));
            }
            return [.. results.Select(r => new ToolResult(r.CallId, r.Output, r.IsError))];
        }
        conversation.Add(new TurnMessage(role, parts));
        return [];
    }

    /// <summary>One content block; null for one that carries nothing for the CLI (earlier thinking).</summary>
    private static TurnPart? Block(JsonElement block, string path, string role)
    {
        var type = block.ValueKind == JsonValueKind.Object
            ? TurnInput.Str(block, "type") ?? throw new InputException($"{path}.type: Field required", path + ".type", "missing_required_parameter")
            : throw new InputException($"{path}: Input should be an object", path, "invalid_type");
        switch (type)
        {
            case "text":
                return new TextPart(TurnInput.Str(block, "text") ?? throw new InputException($"{path}.text: Field required", path + ".text", "missing_required_parameter"));
            case "image" when role == "user":
                return Image(block, path);
            case "tool_use" when role == "assistant":
                var input = block.TryGetProperty("input", out var i) && i.ValueKind == JsonValueKind.Object ? i.GetRawText() : "{}";
                return new ToolCallPart(
                    TurnInput.Str(block, "id") ?? throw new InputException($"{path}.id: Field required", path + ".id", "missing_required_parameter"),
                    TurnInput.Str(block, "name") ?? throw new InputException($"{path}.name: Field required", path + ".name", "missing_required_parameter"),
                    input);
            case "tool_result" when role == "user":
                return new ToolResultPart(
                    TurnInput.Str(block, "tool_use_id") ?? throw new InputException($"{path}.tool_use_id: Field required", path + ".tool_use_id", "missing_required_parameter"),
                    ResultText(block, path),
                    block.TryGetProperty("is_error", out var e) && e.ValueKind == JsonValueKind.True);
            case "thinking" or "redacted_thinking" when role == "assistant":
                // The model's own notes from an earlier turn: the CLI keeps its own.
                return null;
            default:
                throw new InputException($"{path}.type: content blocks of type '{type}' are not supported in {role} messages by this server; send text, image, tool_use (assistant) or tool_result (user).", path + ".type");
        }
    }

    private static TurnPart Image(JsonElement block, string path)
    {
        if (!block.TryGetProperty("source", out var source) || source.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"{path}.source: Field required", path + ".source", "missing_required_parameter");
        }
        return TurnInput.Str(source, "type") switch
        {
            "base64" => TurnInput.Image($"data:{TurnInput.Str(source, "media_type")};base64,{TurnInput.Str(source, "data")}", path + ".source"),
            "url" => TurnInput.Image(TurnInput.Str(source, "url"), path + ".source.url"),
            var other => throw new InputException($"{path}.source.type: image sources of type '{other}' are not supported; use base64 or url.", path + ".source.type"),
        };
    }

    /// <summary>A tool_result's content: a string, or blocks whose texts are joined (an image in a result is named, not sent).</summary>
    private static string ResultText(JsonElement block, string path)
    {
        if (!block.TryGetProperty("content", out var content))
        {
            return "";
        }
        return content.ValueKind switch
        {
            JsonValueKind.String => content.GetString()!,
            JsonValueKind.Null => "",
            JsonValueKind.Array => string.Join("\n", content.EnumerateArray().Select(b => TurnInput.Str(b, "type") switch
            {
                "text" => TurnInput.Str(b, "text") ?? "",
                "image" => "[image]",
                _ => "",
            })),
            _ => throw new InputException($"{path}.content: Input should be a valid string or a list of blocks", path + ".content", "invalid_type"),
        };
    }

    /// <summary>
    /// Custom tools ({name, description, input_schema}), checked as the OpenAI side checks function
    /// tools. Anthropic's server tools (web search, code execution, ...) run on Anthropic's side, which
    /// this server is not: they are refused.
    /// </summary>
    private static List<ToolDefinition>? Tools(JsonElement tools)
    {
        if (tools.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }
        if (tools.ValueKind != JsonValueKind.Array)
        {
            throw new InputException("tools: Input should be a valid list", "tools", "invalid_type");
        }
        var result = new List<ToolDefinition>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools.{i++}";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw new InputException($"{path}: Input should be an object", path, "invalid_type");
            }
            if (TurnInput.Str(tool, "type") is { } type && type != "custom")
            {
                throw new InputException($"{path}.type: tools of type '{type}' run on Anthropic's servers and are not supported here; declare custom tools (name, description, input_schema).", path + ".type");
            }
            var schema = tool.TryGetProperty("input_schema", out var s) ? s : default;
            if (schema.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            {
                throw new InputException($"{path}.input_schema: Field required", path + ".input_schema", "missing_required_parameter");
            }
            result.Add(TurnInput.Tool(TurnInput.Str(tool, "name"), TurnInput.Str(tool, "description"), schema, path + ".name", path + ".input_schema", result));
        }
        return result.Count > 0 ? result : null;
    }

    /// <summary>tool_choice: auto | any (must call one) | tool (must call the named one) | none; disable_parallel_tool_use.</summary>
    private static (ToolChoice? Choice, bool Parallel) ToolChoice(JsonElement choice, List<ToolDefinition>? tools)
    {
        if (choice.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return (null, true);
        }
        if (choice.ValueKind != JsonValueKind.Object)
        {
            throw new InputException("tool_choice: Input should be an object", "tool_choice", "invalid_type");
        }
        var parallel = !(choice.TryGetProperty("disable_parallel_tool_use", out var d) && d.ValueKind == JsonValueKind.True);
        return (TurnInput.Str(choice, "type") switch
        {
            "auto" => Providers.ToolChoice.Auto,
            "any" => new ToolChoice(ToolChoiceMode.Required),
            "none" => new ToolChoice(ToolChoiceMode.None),
            "tool" when TurnInput.Str(choice, "name") is { } name => tools?.Any(t => t.Name == name) == true
                ? new ToolChoice(ToolChoiceMode.Named, name)
                : throw new InputException($"tool_choice.name: the tool '{name}' is not among the declared tools", "tool_choice.name"),
            var other => throw new InputException($"tool_choice.type: Input should be 'auto', 'any', 'tool' (with a name) or 'none'; got '{other}'", "tool_choice.type"),
        }, parallel);
    }

    /// <summary>thinking → the CLIs' effort: a budget picks a level; adaptive leaves the CLI's default; disabled asks for the least.</summary>
    private static string? Effort(JsonElement thinking)
    {
        if (thinking.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }
        if (thinking.ValueKind != JsonValueKind.Object)
        {
            throw new InputException("thinking: Input should be an object", "thinking", "invalid_type");
        }
        switch (TurnInput.Str(thinking, "type"))
        {
            case "enabled":
                if (!thinking.TryGetProperty("budget_tokens", out var b) || !b.TryGetInt64(out var budget))
                {
                    throw new InputException("thinking.enabled.budget_tokens: Field required", "thinking.budget_tokens", "missing_required_parameter");
                }
                if (budget < 1024)
                {
                    throw new InputException("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", "thinking.budget_tokens");
                }
                return budget switch
                {
                    < 4096 => "low",
                    < 16384 => "medium",
                    < 32768 => "high",
                    _ => "xhigh",
                };
            case "adaptive":
                return null;
            case "disabled":
                return "minimal";
            case var other:
                throw new InputException($"thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'; got '{other}'", "thinking.type");
        }
    }
}
