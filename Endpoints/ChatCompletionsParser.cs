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

        var messages = body.Messages.Select((m, i) => ParseMessage(m, $"messages[{i}]")).ToList();
        if (messages.TrueForAll(TurnInput.IsInstruction))
        {
            throw new InputException("Invalid 'messages': at least one message besides system/developer messages is required.", "messages");
        }
        var (instructions, conversation) = TurnInput.SplitInstructions(null, messages);
        var tools = TurnInput.Tools(body.Tools, flat: false);
        var choice = TurnInput.ToolChoice(body.ToolChoice, tools, flat: false);
        return new ChatTurn(TurnInput.Model(body.Model, defaultModel), instructions, conversation, effort, schema,
            body.Stream == true, body.StreamOptions?.IncludeUsage == true, body.Store != false, tools, choice, body.ParallelToolCalls != false);
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
        var parts = TurnInput.Content(message.Content, path + ".content", ParsePart) ?? message.Content.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.Undefined when role == "assistant" => [],
            JsonValueKind.Null or JsonValueKind.Undefined =>
                throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter"),
            _ => throw new InputException($"Invalid type for '{path}.content': expected one of a string or array of objects.", path + ".content", "invalid_type"),
        };
        if (role == "assistant" && message.ToolCalls.ValueKind == JsonValueKind.Array)
        {
            var j = 0;
            foreach (var call in message.ToolCalls.EnumerateArray())
            {
                var at = $"{path}.tool_calls[{j++}]";
                if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException($"Invalid '{at}': expected {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}.", at);
                }
                parts.Add(new ToolCallPart(
                    TurnInput.Str(call, "id") ?? throw new InputException($"Missing required parameter: '{at}.id'.", at + ".id", "missing_required_parameter"),
                    TurnInput.Str(function, "name") ?? throw new InputException($"Missing required parameter: '{at}.function.name'.", at + ".function.name", "missing_required_parameter"),
                    TurnInput.Str(function, "arguments") ?? ""));
            }
        }
        if (role == "tool")
        {
            if (message.ToolCallId is not { } callId)
            {
                throw new InputException($"Missing required parameter: '{path}.tool_call_id'.", path + ".tool_call_id", "missing_required_parameter");
            }
            parts = [new ToolResultPart(callId, string.Concat(parts.OfType<TextPart>().Select(t => t.Text)))];
        }
        return new TurnMessage(role, parts);
    }

    private static TurnPart ParsePart(JsonElement part, string path)
    {
        var type = TurnInput.PartType(part, path);
        switch (type)
        {
            case "text":
                return TurnInput.Text(part, path);
            case "image_url":
                if (!part.TryGetProperty("image_url", out var image))
                {
                    throw new InputException($"Missing required parameter: '{path}.image_url'.", path + ".image_url", "missing_required_parameter");
                }
                var url = image.ValueKind switch
                {
                    JsonValueKind.String => image.GetString(),
                    JsonValueKind.Object => TurnInput.Str(image, "url"),
                    _ => null,
                };
                return TurnInput.Image(url, path + ".image_url.url");
            case "input_audio" or "file":
                throw TurnInput.UnsupportedPart(type, path);
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'text' and 'image_url'.", path + ".type");
        }
    }
}
