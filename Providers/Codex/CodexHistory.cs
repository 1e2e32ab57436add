using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// A conversation's earlier turns in a Codex thread. codex 0.169's app-server takes raw Responses items
/// into a thread's history (thread/inject_items; checked: they reach the model as message, function_call and
/// function_call_output items, in order, before the turn's input, and a turn with no input of its own then
/// answers from them). So an earlier message, call or result goes to the model as what it was (calls with their
/// ids), not as lines of text it could mistake for something the user wrote. Pure: messages in, JSON out.
/// </summary>
internal static class CodexHistory
{
    /// <summary>The text codex's model sees before a failed call's output: codex passes `success: false` on to no one (checked with 0.169).</summary>
    public const string FailedPrefix = "[tool call failed] ";

    /// <summary>
    /// The messages to inject as history, and the ones to send as the turn's input: everything before the trailing
    /// user messages is history (a conversation replayed into a new thread, a tool result and what led to it), so
    /// after a tool result the input may be empty and the model answers the result. All of it is input when there is
    /// no earlier turn (only user messages), or when it ends with the assistant's words and has no tool parts.
    /// </summary>
    public static (IReadOnlyList<TurnMessage> History, IReadOnlyList<TurnMessage> Input) Split(IReadOnlyList<TurnMessage> messages)
    {
        var start = messages.Count;
        while (start > 0 && messages[start - 1].Role == "user")
        {
            start--;
        }
        var tools = messages.Any(m => m.Parts.Any(p => p is ToolCallPart or ToolResultPart));
        if (start == 0 || (start == messages.Count && !tools))
        {
            return ([], messages);
        }
        return ([.. messages.Take(start)], [.. messages.Skip(start)]);
    }

    /// <summary>thread/inject_items: <paramref name="history"/> as Responses items appended to the thread.</summary>
    public static void WriteInjectItems(Utf8JsonWriter w, string threadId, IReadOnlyList<TurnMessage> history)
    {
        w.WriteString("threadId", threadId);
        w.WriteStartArray("items");
        foreach (var message in history)
        {
            switch (message.Role)
            {
                case "assistant":
                    WriteMessage(w, "assistant", "output_text", message.Parts);
                    foreach (var call in message.Parts.OfType<ToolCallPart>())
                    {
                        w.WriteStartObject();
                        w.WriteString("type", "function_call");
                        w.WriteString("call_id", call.CallId);
                        w.WriteString("name", call.Name);
                        w.WriteString("arguments", call.Arguments);
                        w.WriteEndObject();
                    }
                    break;
                case "tool":
                    foreach (var result in message.Parts.OfType<ToolResultPart>())
                    {
                        w.WriteStartObject();
                        w.WriteString("type", "function_call_output");
                        w.WriteString("call_id", result.CallId);
                        w.WriteString("output", OutputText(result.Output, result.IsError));
                        w.WriteEndObject();
                    }
                    WriteMessage(w, "user", "input_text", message.Parts);
                    break;
                case "system" or "developer":
                    WriteMessage(w, "developer", "input_text", message.Parts);
                    break;
                default:
                    WriteMessage(w, "user", "input_text", message.Parts);
                    break;
            }
        }
        w.WriteEndArray();
    }

    /// <summary>What the model reads as a call's output.</summary>
    public static string OutputText(string output, bool isError) => isError ? FailedPrefix + output : output;

    /// <summary>A message item of the text and images among <paramref name="parts"/>; nothing when there are none.</summary>
    private static void WriteMessage(Utf8JsonWriter w, string role, string textType, IReadOnlyList<TurnPart> parts)
    {
        var content = parts.Where(p => p is TextPart or ImageUrlPart or ImageDataPart).ToList();
        if (content.Count == 0)
        {
            return;
        }
        w.WriteStartObject();
        w.WriteString("type", "message");
        w.WriteString("role", role);
        w.WriteStartArray("content");
        foreach (var part in content)
        {
            w.WriteStartObject();
            switch (part)
            {
                case TextPart text:
                    w.WriteString("type", textType);
                    w.WriteString("text", text.Text);
                    break;
                case ImageUrlPart url:
                    w.WriteString("type", "input_image");
                    w.WriteString("image_url", url.Url);
                    break;
                case ImageDataPart data:
                    w.WriteString("type", "input_image");
                    w.WriteString("image_url", $"data:{data.MediaType};base64,{Convert.ToBase64String(data.Data)}");
                    break;
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
