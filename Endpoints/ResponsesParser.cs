using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>A Responses request checked and turned into a <see cref="ParsedRequest"/>; each fault is an <see cref="InputException"/>.</summary>
internal static class ResponsesParser
{
    private static readonly JsonElement TextFormat = JsonDocument.Parse("""{"type":"text"}""").RootElement.Clone();
    private static readonly string[] InputRoles = ["user", "system", "developer", "assistant"];

    /// <param name="resolve">Looks up an item_reference: the message it stands for, null for an item that adds nothing (reasoning).</param>
    /// <param name="defaultModel">For a request without a model: the original product documents <c>model</c> as optional.</param>
    internal static ParsedRequest Parse(ResponsesRequest body, string defaultModel, string responseId, Func<string, string, TurnMessage?> resolve)
    {
        TurnInput.CheckIgnoredFields(body.Ignored);
        var messages = new List<TurnMessage>();
        switch (body.Input.ValueKind)
        {
            case JsonValueKind.String:
                messages.Add(TurnMessage.User(body.Input.GetString()!));
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in body.Input.EnumerateArray())
                {
                    if (ParseItem(item, $"input[{i}]", resolve) is { } message)
                    {
                        messages.Add(message);
                    }
                    i++;
                }
                break;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw new InputException("Missing required parameter: 'input'.", "input", "missing_required_parameter");
            default:
                throw new InputException("Invalid type for 'input': expected a string or an array of input items.", "input", "invalid_type");
        }
        if (messages.Count == 0)
        {
            throw new InputException("Invalid 'input': expected at least one input item.", "input", "empty_array");
        }
        var items = messages.SelectMany(TurnInput.ToItems)
            .Select((item, index) => item with { Id = ResponseItemIds.Input(TurnInput.ItemPrefix(item.Type), responseId, index) }).ToList();

        // Leading system/developer input items join the instructions, as chat's leading system messages do.
        var (instructions, conversation) = TurnInput.SplitInstructions(body.Instructions, messages);

        string? effort = null;
        string? summary = null;
        if (body.Reasoning.ValueKind == JsonValueKind.Object)
        {
            if (body.Reasoning.TryGetProperty("effort", out var e) && e.ValueKind != JsonValueKind.Null)
            {
                effort = TurnInput.ReasoningEffort(e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText(), "reasoning.effort");
            }
            if (body.Reasoning.TryGetProperty("summary", out var s) && s.ValueKind == JsonValueKind.String)
            {
                summary = s.GetString();
            }
        }
        else if (body.Reasoning.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            throw new InputException("Invalid type for 'reasoning': expected an object.", "reasoning", "invalid_type");
        }

        JsonElement? schema = null;
        var format = TextFormat;
        if (body.Text.ValueKind == JsonValueKind.Object && body.Text.TryGetProperty("format", out var f) && f.ValueKind != JsonValueKind.Null)
        {
            schema = TurnInput.OutputSchema(f, "text.format", flat: true);
            format = f.Clone();
        }
        else if (body.Text.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
        {
            throw new InputException("Invalid type for 'text': expected an object.", "text", "invalid_type");
        }

        var metadata = ParseMetadata(body.Metadata);
        var tools = TurnInput.Tools(body.Tools, flat: true);
        var choice = TurnInput.ToolChoice(body.ToolChoice, tools, flat: true);
        body = body with { Model = TurnInput.Model(body.Model, defaultModel) };
        return new ParsedRequest(body.Model, instructions, conversation, items, effort, summary, schema, format, metadata, body, tools, choice);
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return result;
        }
        if (metadata.ValueKind != JsonValueKind.Object)
        {
            throw new InputException("Invalid type for 'metadata': expected an object with string values.", "metadata", "invalid_type");
        }
        foreach (var property in metadata.EnumerateObject())
        {
            if (property.Name.Length > 64)
            {
                throw new InputException($"Invalid 'metadata': key '{property.Name[..20]}...' is longer than 64 characters.", "metadata");
            }
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw new InputException($"Invalid type for 'metadata.{property.Name}': expected a string.", $"metadata.{property.Name}", "invalid_type");
            }
            var value = property.Value.GetString()!;
            if (value.Length > 512)
            {
                throw new InputException($"Invalid 'metadata.{property.Name}': longer than 512 characters.", $"metadata.{property.Name}");
            }
            result[property.Name] = value;
        }
        if (result.Count > 16)
        {
            throw new InputException("Invalid 'metadata': at most 16 keys are allowed.", "metadata");
        }
        return result;
    }

    private static TurnMessage? ParseItem(JsonElement item, string path, Func<string, string, TurnMessage?> resolve)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an input item object.", path, "invalid_type");
        }
        var type = TurnInput.Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
        switch (type)
        {
            case "message":
                var role = TurnInput.Str(item, "role") ?? throw new InputException($"Missing required parameter: '{path}.role'.", path + ".role", "missing_required_parameter");
                if (!InputRoles.Contains(role))
                {
                    throw new InputException($"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system' and 'developer'.", path + ".role");
                }
                if (!item.TryGetProperty("content", out var content) || content.ValueKind is JsonValueKind.Null)
                {
                    throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter");
                }
                return new TurnMessage(role, TurnInput.Content(content, path + ".content", ParseContent)
                    ?? throw new InputException($"Invalid type for '{path}.content': expected a string or an array of content parts.", path + ".content", "invalid_type"));
            case "function_call":
                return new TurnMessage("assistant", [new ToolCallPart(CallId(item, path),
                    TurnInput.Str(item, "name") ?? throw new InputException($"Missing required parameter: '{path}.name'.", path + ".name", "missing_required_parameter"),
                    TurnInput.Str(item, "arguments") ?? "")]);
            case "function_call_output":
                return new TurnMessage("tool", [new ToolResultPart(CallId(item, path), item.TryGetProperty("output", out var o) ? Output(o) : "")]);
            case "reasoning":
                return null;
            case "item_reference":
                // Clients that keep store on (the Vercel AI SDK) send earlier output back by id alone.
                return resolve(TurnInput.Str(item, "id") ?? throw new InputException($"Missing required parameter: '{path}.id'.", path + ".id", "missing_required_parameter"), path + ".id");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Input items of type '{type}' are not supported by this server; send messages.", path + ".type");
        }
    }

    private static string CallId(JsonElement item, string path) => TurnInput.Str(item, "call_id")
        ?? throw new InputException($"Missing required parameter: '{path}.call_id'.", path + ".call_id", "missing_required_parameter");

    /// <summary>A function_call_output's output: a string, or content parts whose texts are joined.</summary>
    private static string Output(JsonElement output) => output.ValueKind switch
    {
        JsonValueKind.String => output.GetString()!,
        JsonValueKind.Array => string.Concat(output.EnumerateArray().Where(p => p.ValueKind == JsonValueKind.Object).Select(p => TurnInput.Str(p, "text") ?? "")),
        _ => output.GetRawText(),
    };

    private static TurnPart ParseContent(JsonElement part, string path)
    {
        var type = TurnInput.PartType(part, path);
        switch (type)
        {
            case "input_text" or "output_text" or "text":
                return TurnInput.Text(part, path);
            case "refusal":
                return new TextPart(TurnInput.Str(part, "refusal") ?? "");
            case "input_image":
                if (part.TryGetProperty("file_id", out var fileId) && fileId.ValueKind == JsonValueKind.String)
                {
                    throw new InputException("Images by file_id are not supported by this server; send image_url (http(s) or data: URL).", path + ".file_id");
                }
                return TurnInput.Image(TurnInput.Str(part, "image_url"), path + ".image_url");
            case "input_file" or "input_audio":
                throw TurnInput.UnsupportedPart(type, path);
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'input_text', 'input_image' and 'output_text'.", path + ".type");
        }
    }
}
