using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>A chat completion request checked and turned into a <see cref="ChatTurn"/>; each fault is an <see cref="InputException"/>.</summary>
internal static class ChatCompletionsParser
{
    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool", "function"];

    /// <param name="defaultModel">For a request without a model: the original product documents <c>model</c> as optional.</param>
    internal static ChatTurn Parse(ChatCompletionRequest body, string defaultModel)
    {
        body = body with { Model = string.IsNullOrEmpty(body.Model) ? defaultModel : body.Model };
        if (body.Messages is null)
        {
            throw new InputException("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (body.Messages.Count == 0)
        {
            throw new InputException("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array");
        }
        TurnInput.CheckIgnoredFields(body.Ignored);
        if (body.N is { } n && n != 1)
        {
            throw new InputException(n < 1 ? "Invalid 'n': must be at least 1." : "Invalid 'n': this server returns one choice per request; use n=1.", "n");
        }
        var effort = TurnInput.ReasoningEffort(body.ReasoningEffort, "reasoning_effort");
        var schema = TurnInput.OutputSchema(body.ResponseFormat, "response_format", flat: false);

        var instructions = new List<string>();
        var conversation = new List<TurnMessage>();
        for (var i = 0; i < body.Messages.Count; i++)
        {
            var message = ParseMessage(body.Messages[i], $"messages[{i}]");
            // Leading system/developer messages are the instructions; later ones stay in place.
            if (conversation.Count == 0 && message.Role is "system" or "developer")
            {
                instructions.Add(string.Concat(message.Parts.OfType<TextPart>().Select(p => p.Text)));
            }
            else
            {
                conversation.Add(message);
            }
        }
        if (conversation.Count == 0)
        {
            throw new InputException("Invalid 'messages': at least one message besides system/developer messages is required.", "messages");
        }
        return new ChatTurn(body.Model, instructions.Count > 0 ? string.Join("\n\n", instructions) : null, conversation, effort, schema,
            body.Stream == true, body.StreamOptions?.IncludeUsage == true, body.Store != false);
    }

    private static TurnMessage ParseMessage(ChatMessageIn? message, string path)
    {
        if (message is null)
        {
            throw new InputException($"Invalid type for '{path}': expected an object, but got null instead.", path, "invalid_type");
        }
        if (message.Role is null)
        {
            throw new InputException($"Missing required parameter: '{path}.role'.", path + ".role", "missing_required_parameter");
        }
        if (!Roles.Contains(message.Role))
        {
            throw new InputException($"Invalid value: '{message.Role}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function' and 'developer'.", path + ".role");
        }
        var role = message.Role == "function" ? "tool" : message.Role;
        var parts = new List<TurnPart>();
        var content = message.Content;
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                parts.Add(new TextPart(content.GetString()!));
                break;
            case JsonValueKind.Array:
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    parts.Add(ParsePart(part, $"{path}.content[{j}]"));
                    j++;
                }
                break;
            case JsonValueKind.Null or JsonValueKind.Undefined when role == "assistant":
                break;
            case JsonValueKind.Null or JsonValueKind.Undefined:
                throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter");
            default:
                throw new InputException($"Invalid type for '{path}.content': expected one of a string or array of objects.", path + ".content", "invalid_type");
        }
        // The contract has no tool-call events: earlier calls and their results travel as text so the history stays whole.
        if (role == "assistant" && message.ToolCalls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in message.ToolCalls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    var name = function.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : "?";
                    var arguments = function.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : "";
                    parts.Add(new TextPart($"[called tool {name} with arguments {arguments}]"));
                }
            }
        }
        if (role == "tool" && message.ToolCallId is { } callId && parts.Count > 0 && parts[0] is TextPart first)
        {
            parts[0] = new TextPart($"[result of tool call {callId}] {first.Text}");
        }
        return new TurnMessage(role, parts);
    }

    private static TurnPart ParsePart(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an object.", path, "invalid_type");
        }
        var type = part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                    ? new TextPart(text.GetString()!)
                    : throw new InputException($"Missing required parameter: '{path}.text'.", path + ".text", "missing_required_parameter");
            case "image_url":
                if (!part.TryGetProperty("image_url", out var image))
                {
                    throw new InputException($"Missing required parameter: '{path}.image_url'.", path + ".image_url", "missing_required_parameter");
                }
                var url = image.ValueKind switch
                {
                    JsonValueKind.String => image.GetString(),
                    JsonValueKind.Object when image.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String => u.GetString(),
                    _ => null,
                };
                return TurnInput.Image(url, path + ".image_url.url");
            case "input_audio" or "file":
                throw new InputException($"Content parts of type '{type}' are not supported by this server; send text or images.", path + ".type");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'text' and 'image_url'.", path + ".type");
        }
    }
}
