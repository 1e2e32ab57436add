using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>What both APIs share when turning request content into provider parts, and back.</summary>
public static class TurnInput
{
    public static readonly string[] ReasoningEfforts = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

    private static readonly string[] ImageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

    /// <summary>A permissive schema for json_object: any JSON object.</summary>
    public static JsonElement AnyObjectSchema { get; } = JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone();

    /// <summary>An http(s) URL passes through; a data: URL is decoded; anything else is a 400 naming <paramref name="param"/>.</summary>
    public static TurnPart Image(string? url, string param)
    {
        if (string.IsNullOrEmpty(url))
        {
            throw new InputException($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
        }
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = url.IndexOf(',', StringComparison.Ordinal);
            var header = comma > 5 ? url[5..comma] : "";
            if (comma < 0 || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                throw new InputException($"Invalid image data URL in '{param}': expected data:image/<type>;base64,<data>.", param);
            }
            var mediaType = header[..^7].ToLowerInvariant();
            if (!ImageTypes.Contains(mediaType))
            {
                throw new InputException($"Invalid image type '{mediaType}' in '{param}': use image/png, image/jpeg, image/gif or image/webp.", param);
            }
            try
            {
                var data = Convert.FromBase64String(url[(comma + 1)..]);
                if (data.Length == 0)
                {
                    throw new FormatException();
                }
                return new ImageDataPart(mediaType, data);
            }
            catch (FormatException)
            {
                throw new InputException($"Invalid image data URL in '{param}': the data is not valid base64.", param);
            }
        }
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            return new ImageUrlPart(url);
        }
        throw new InputException($"Invalid image URL in '{param}': use an http(s) URL or a data: URL.", param);
    }

    /// <summary>The model a request names, or <paramref name="defaultModel"/> when it names none (the original product documents <c>model</c> as optional).</summary>
    public static string Model(string? model, string defaultModel)
    {
        model = string.IsNullOrEmpty(model) ? defaultModel : model;
        if (string.IsNullOrEmpty(model))
        {
            throw new InputException("You must provide a model parameter.", "model", "missing_required_parameter");
        }
        if (!ModelName.IsValid(model))
        {
            throw new InputException("Invalid model name: use letters, digits, '.', '_', ':' or '-' (at most 64 characters).", "model");
        }
        return model;
    }

    /// <summary>A property that is a string, or null: missing, null or of another type.</summary>
    public static string? Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Message content: a string is one text part, an array is parts read by <paramref name="part"/>; null for any other value, which each API words its own error for.</summary>
    /// <param name="path">The content's path in the request, e.g. <c>messages[0].content</c>.</param>
    public static List<TurnPart>? Content(JsonElement content, string path, Func<JsonElement, string, TurnPart> part)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return [new TextPart(content.GetString()!)];
            case JsonValueKind.Array:
                var parts = new List<TurnPart>();
                var j = 0;
                foreach (var element in content.EnumerateArray())
                {
                    parts.Add(part(element, $"{path}[{j}]"));
                    j++;
                }
                return parts;
            default:
                return null;
        }
    }

    /// <summary>A content part's type: a part that is not an object, or has no type, is a 400.</summary>
    public static string PartType(JsonElement part, string path) =>
        part.ValueKind != JsonValueKind.Object
            ? throw new InputException($"Invalid type for '{path}': expected an object.", path, "invalid_type")
            : Str(part, "type") ?? throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");

    /// <summary>A text content part: its text is required.</summary>
    public static TextPart Text(JsonElement part, string path) =>
        Str(part, "text") is { } text
            ? new TextPart(text)
            : throw new InputException($"Missing required parameter: '{path}.text'.", path + ".text", "missing_required_parameter");

    /// <summary>A content part of a type the API knows but the CLIs cannot take (audio, files).</summary>
    public static InputException UnsupportedPart(string type, string path) =>
        new($"Content parts of type '{type}' are not supported by this server; send text or images.", path + ".type");

    /// <summary>
    /// Leading system/developer messages join the instructions, after <paramref name="given"/>; later ones stay in place.
    /// When every message is one, all stay: there would be nothing left to answer.
    /// </summary>
    public static (string? Instructions, List<TurnMessage> Conversation) SplitInstructions(string? given, List<TurnMessage> messages)
    {
        var instructions = new List<string>();
        if (!string.IsNullOrEmpty(given))
        {
            instructions.Add(given);
        }
        var lead = messages.TakeWhile(IsInstruction).Count();
        if (lead < messages.Count)
        {
            instructions.AddRange(messages.Take(lead).Select(m => string.Concat(m.Parts.OfType<TextPart>().Select(t => t.Text))));
            messages = messages.Skip(lead).ToList();
        }
        return (instructions.Count > 0 ? string.Join("\n\n", instructions) : null, messages);
    }

    public static bool IsInstruction(TurnMessage message) => message.Role is "system" or "developer";

    /// <summary>What OpenAI allows a function name: <c>^[a-zA-Z0-9_-]{1,64}$</c>.</summary>
    private static bool IsToolName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary>An object schema that takes no arguments: a tool declared without parameters.</summary>
    private static readonly JsonElement NoParameters = JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement.Clone();

    /// <summary>
    /// The request's function tools, checked: a name of letters, digits, '_' and '-' (at most 64, as
    /// OpenAI allows), unique, and a parameters schema that is an object. Chat nests each as
    /// {type, function:{name, description, parameters}}; Responses has them flat.
    /// </summary>
    public static List<ToolDefinition>? Tools(JsonElement tools, bool flat)
    {
        if (tools.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }
        if (tools.ValueKind != JsonValueKind.Array)
        {
            throw new InputException("Invalid type for 'tools': expected an array of tool objects.", "tools", "invalid_type");
        }
        var result = new List<ToolDefinition>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools[{i++}]";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw new InputException($"Invalid type for '{path}': expected a tool object.", path, "invalid_type");
            }
            var type = Str(tool, "type");
            if (type != "function")
            {
                throw new InputException(type is null
                    ? $"Missing required parameter: '{path}.type'."
                    : $"Tools of type '{type}' are not supported by this server; declare function tools (type 'function').", path + ".type",
                    type is null ? "missing_required_parameter" : "invalid_value");
            }
            var holder = tool;
            var where = path;
            if (!flat)
            {
                if (!tool.TryGetProperty("function", out holder) || holder.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException($"Missing required parameter: '{path}.function'.", path + ".function", "missing_required_parameter");
                }
                where = path + ".function";
            }
            result.Add(Tool(Str(holder, "name"), Str(holder, "description"), holder.TryGetProperty("parameters", out var p) ? p : default,
                where + ".name", where + ".parameters", result));
        }
        return result.Count > 0 ? result : null;
    }

    /// <summary>
    /// One tool, checked: a name of letters, digits, '_' and '-' (at most 64), not among
    /// <paramref name="declared"/>, and a parameters schema that is an object (none: no arguments).
    /// </summary>
    public static ToolDefinition Tool(string? name, string? description, JsonElement parameters, string namePath, string schemaPath, IReadOnlyList<ToolDefinition> declared)
    {
        if (name is null)
        {
            throw new InputException($"Missing required parameter: '{namePath}'.", namePath, "missing_required_parameter");
        }
        if (!IsToolName(name))
        {
            throw new InputException($"Invalid '{namePath}': tool '{(name.Length > 80 ? name[..80] + "..." : name)}' does not match '^[a-zA-Z0-9_-]{{1,64}}$' (letters, digits, '_' and '-', at most 64).", namePath);
        }
        if (declared.Any(t => t.Name == name))
        {
            throw new InputException($"Invalid 'tools': the tool '{name}' is declared twice; tool names must be unique.", namePath);
        }
        var schema = NoParameters;
        if (parameters.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            if (parameters.ValueKind != JsonValueKind.Object || (Str(parameters, "type") is { } schemaType && schemaType != "object"))
            {
                throw new InputException($"Invalid schema for tool '{name}' in '{schemaPath}': expected a JSON schema object of type 'object'.", schemaPath);
            }
            schema = parameters.Clone();
        }
        return new ToolDefinition(name, description, schema);
    }

    /// <summary>tool_choice: none | auto | required | a named function tool that the request declares.</summary>
    public static ToolChoice? ToolChoice(JsonElement choice, IReadOnlyList<ToolDefinition>? tools, bool flat)
    {
        switch (choice.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return choice.GetString() switch
                {
                    "auto" => Providers.ToolChoice.Auto,
                    "none" => new ToolChoice(ToolChoiceMode.None),
                    "required" => new ToolChoice(ToolChoiceMode.Required),
                    var other => throw new InputException($"Invalid value for 'tool_choice': '{other}'. Supported values are: 'none', 'auto' and 'required', or a function tool.", "tool_choice"),
                };
            case JsonValueKind.Object:
                var name = flat ? Str(choice, "name") : choice.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object ? Str(f, "name") : null;
                if (Str(choice, "type") != "function" || name is null)
                {
                    throw new InputException(flat
                        ? "Invalid 'tool_choice': expected {\"type\": \"function\", \"name\": ...} naming a declared tool."
                        : "Invalid 'tool_choice': expected {\"type\": \"function\", \"function\": {\"name\": ...}} naming a declared tool.", "tool_choice");
                }
                if (tools?.Any(t => t.Name == name) != true)
                {
                    throw new InputException($"Invalid 'tool_choice': the tool '{name}' is not among the declared tools.", "tool_choice");
                }
                return new ToolChoice(ToolChoiceMode.Named, name);
            default:
                throw new InputException("Invalid type for 'tool_choice': expected a string or an object.", "tool_choice", "invalid_type");
        }
    }

    /// <summary>
    /// The tool results at the end of a conversation (the tool messages after the last assistant one):
    /// what a follow-up brings to a held turn.
    /// </summary>
    public static List<ToolResult> TrailingToolResults(IReadOnlyList<TurnMessage> conversation) =>
        [.. conversation.Reverse().TakeWhile(m => m.Role == "tool").Reverse()
            .SelectMany(m => m.Parts.OfType<ToolResultPart>()).Select(r => new ToolResult(r.CallId, r.Output, r.IsError))];

    /// <summary>
    /// What both APIs accept and ignore (README: the CLIs cannot honour them), each with the type
    /// OpenAI gives it: a value of another type is still a 400 naming the field, as OpenAI answers.
    /// </summary>
    private static readonly Dictionary<string, (string Expected, Func<JsonElement, bool> Fits)> IgnoredFields = new(StringComparer.Ordinal)
    {
        ["temperature"] = ("a number", IsNumber),
        ["top_p"] = ("a number", IsNumber),
        ["frequency_penalty"] = ("a number", IsNumber),
        ["presence_penalty"] = ("a number", IsNumber),
        ["seed"] = ("an integer", IsInteger),
        ["max_tokens"] = ("an integer", IsInteger),
        ["max_completion_tokens"] = ("an integer", IsInteger),
        ["max_output_tokens"] = ("an integer", IsInteger),
        ["top_logprobs"] = ("an integer", IsInteger),
        ["n"] = ("an integer", IsInteger),
        ["logprobs"] = ("a boolean", IsBoolean),
        ["user"] = ("a string", e => e.ValueKind == JsonValueKind.String),
        ["stop"] = ("a string or an array of strings", e => e.ValueKind == JsonValueKind.String || IsArrayOf(e, JsonValueKind.String)),
        ["logit_bias"] = ("an object of numbers", e => e.ValueKind == JsonValueKind.Object && e.EnumerateObject().All(p => IsNumber(p.Value))),
    };

    /// <summary>Throws for the first accepted-and-ignored field whose value has the wrong type; null is always fine.</summary>
    public static void CheckIgnoredFields(IEnumerable<KeyValuePair<string, JsonElement>>? fields)
    {
        foreach (var (name, value) in fields ?? [])
        {
            if (IgnoredFields.TryGetValue(name, out var rule) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) && !rule.Fits(value))
            {
                var got = value.ValueKind switch
                {
                    JsonValueKind.String => "a string",
                    JsonValueKind.Number => "a number",
                    JsonValueKind.True or JsonValueKind.False => "a boolean",
                    JsonValueKind.Array => "an array",
                    _ => "an object",
                };
                throw new InputException($"Invalid type for '{name}': expected {rule.Expected}, but got {got} instead.", name, "invalid_type");
            }
        }
    }

    private static bool IsNumber(JsonElement e) => e.ValueKind == JsonValueKind.Number;

    private static bool IsInteger(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out _);

    private static bool IsBoolean(JsonElement e) => e.ValueKind is JsonValueKind.True or JsonValueKind.False;

    private static bool IsArrayOf(JsonElement e, JsonValueKind kind) => e.ValueKind == JsonValueKind.Array && e.EnumerateArray().All(i => i.ValueKind == kind);

    public static string? ReasoningEffort(string? effort, string param) =>
        effort is null || ReasoningEfforts.Contains(effort)
            ? effort
            : throw new InputException($"Invalid value for '{param}': '{effort}'. Supported values are: {string.Join(", ", ReasoningEfforts.Select(e => $"'{e}'"))}.", param);

    /// <summary>response_format / text.format: text → null, json_object → any object, json_schema → its schema.</summary>
    public static JsonElement? OutputSchema(JsonElement format, string param, bool flat)
    {
        if (format.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }
        if (format.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{param}': expected an object.", param, "invalid_type");
        }
        var type = Str(format, "type");
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return AnyObjectSchema;
            case "json_schema":
                // Chat nests {json_schema:{name,schema}}; Responses has {name,schema} flat in text.format.
                var holder = format;
                if (!flat)
                {
                    if (!format.TryGetProperty("json_schema", out holder) || holder.ValueKind != JsonValueKind.Object)
                    {
                        throw new InputException($"Missing required parameter: '{param}.json_schema'.", param + ".json_schema", "missing_required_parameter");
                    }
                }
                var where = flat ? param : param + ".json_schema";
                if (!holder.TryGetProperty("schema", out var schema))
                {
                    return AnyObjectSchema;
                }
                if (schema.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException($"Invalid type for '{where}.schema': expected an object.", where + ".schema", "invalid_type");
                }
                return schema.Clone();
            default:
                throw new InputException($"Invalid value for '{param}.type': '{type}'. Supported values are: 'text', 'json_object' and 'json_schema'.", param + ".type");
        }
    }

    /// <summary>
    /// The stored form of a message: what input_items lists and what a replay reads back. Tool calls and
    /// results are items of their own (function_call, function_call_output); the rest is one message.
    /// Ids are left empty for the caller to give (<see cref="ResponseItemIds"/>).
    /// </summary>
    public static IEnumerable<InputItem> ToItems(TurnMessage message)
    {
        var assistant = message.Role == "assistant";
        var content = message.Parts.Where(p => p is not (ToolCallPart or ToolResultPart)).Select(p => p switch
        {
            TextPart text => new InputContent(assistant ? "output_text" : "input_text", text.Text),
            ImageUrlPart url => new InputContent("input_image", ImageUrl: url.Url, Detail: "auto"),
            ImageDataPart data => new InputContent("input_image", ImageUrl: $"data:{data.MediaType};base64,{Convert.ToBase64String(data.Data)}", Detail: "auto"),
            _ => new InputContent("input_text", ""),
        }).ToList();
        if (content.Count > 0 || !message.Parts.Any(p => p is ToolCallPart or ToolResultPart))
        {
            yield return new InputItem("", "message", message.Role, content, "completed");
        }
        foreach (var part in message.Parts)
        {
            switch (part)
            {
                case ToolCallPart call:
                    yield return new InputItem("", "function_call", null, null, "completed", call.CallId, call.Name, call.Arguments);
                    break;
                case ToolResultPart result:
                    yield return new InputItem("", "function_call_output", null, null, "completed", result.CallId, Output: result.Output);
                    break;
            }
        }
    }

    /// <summary>A stateless API's conversation as stored items, each with a fresh id (no response id to derive them from).</summary>
    public static List<InputItem> StoredItems(IEnumerable<TurnMessage> messages) =>
        [.. messages.SelectMany(ToItems).Select(item => item with { Id = NewId(ItemPrefix(item.Type)) })];

    /// <summary>The id prefix of a stored item of <paramref name="type"/>.</summary>
    public static string ItemPrefix(string type) => type switch
    {
        "function_call" => "fc_",
        "function_call_output" => "fco_",
        _ => "msg_",
    };

    public static TurnMessage FromItem(InputItem item) => item.Type switch
    {
        "function_call" => new TurnMessage("assistant", [new ToolCallPart(item.CallId ?? "", item.Name ?? "", item.Arguments ?? "")]),
        "function_call_output" => new TurnMessage("tool", [new ToolResultPart(item.CallId ?? "", item.Output ?? "")]),
        _ => new(item.Role ?? "user", (item.Content ?? []).Select(c => c.Type switch
        {
            "input_image" when c.ImageUrl is not null => Image(c.ImageUrl, "input"),
            _ => (TurnPart)new TextPart(c.Text ?? ""),
        }).ToList()),
    };

    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>A digest of a conversation, to recognise a request that continues one we still hold.</summary>
    public static string ConversationKey(string model, string? instructions, IEnumerable<TurnMessage> messages)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string s)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(s));
            hash.AppendData([0]);
        }
        Add(model);
        Add(instructions ?? "\u0001none");
        foreach (var message in messages)
        {
            Add("\u0002" + message.Role);
            foreach (var part in message.Parts)
            {
                switch (part)
                {
                    case TextPart text:
                        Add("t" + text.Text);
                        break;
                    case ImageUrlPart url:
                        Add("u" + url.Url);
                        break;
                    case ImageDataPart data:
                        Add("d" + data.MediaType + Convert.ToHexString(SHA256.HashData(data.Data)));
                        break;
                    case ToolCallPart call:
                        Add("c" + call.CallId + "\u0003" + call.Name + "\u0003" + call.Arguments);
                        break;
                    case ToolResultPart result:
                        Add("r" + result.CallId + "\u0003" + result.Output);
                        break;
                }
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
