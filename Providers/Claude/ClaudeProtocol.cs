using System.Buffers;
using System.Text;
using System.Text.Json;

namespace CodexApiServer.Providers.Claude;

/// <summary>The stream-json wire of Claude Code: user messages in, event lines out.</summary>
public static class ClaudeProtocol
{
    /// <summary>Parses one line; null when it is not a JSON object (garbage is skipped, not fatal).</summary>
    public static ClaudeLine? Parse(ReadOnlyMemory<byte> line)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException)
        {
            return null;
        }
        try
        {
            return Interpret(document.RootElement);
        }
        catch (InvalidOperationException)
        {
            // A field of an unexpected type: treat the line as noise rather than end the reader.
            return null;
        }
        finally
        {
            document.Dispose();
        }
    }

    private static ClaudeLine? Interpret(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return null;
        }
        switch (type.GetString())
        {
            case "stream_event":
                return ParseStreamEvent(root);
            case "system" when Str(root, "subtype") == "api_retry":
                return new ClaudeLine(ClaudeLineKind.ApiRetry)
                {
                    ErrorStatus = Int(root, "error_status"),
                    Error = Str(root, "error"),
                };
            case "result":
                return ParseResult(root);
            case "assistant":
                return ParseAssistant(root);
            case "control_request":
                return ParseControlRequest(root);
            case "control_response":
                return ParseControlResponse(root);
            case "rate_limit_event":
                return ParseRateLimit(root);
            default:
                return new ClaudeLine(ClaudeLineKind.Other);
        }
    }

    private static ClaudeLine ParseStreamEvent(JsonElement root)
    {
        if (!root.TryGetProperty("event", out var ev) || ev.ValueKind != JsonValueKind.Object)
        {
            return new ClaudeLine(ClaudeLineKind.StreamEvent);
        }
        var index = Int(ev, "index") ?? 0;
        switch (Str(ev, "type"))
        {
            case "content_block_delta" when ev.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object:
                switch (Str(delta, "type"))
                {
                    case "text_delta":
                        return new ClaudeLine(ClaudeLineKind.TextDelta) { Text = Str(delta, "text") ?? "" };
                    case "thinking_delta":
                        return new ClaudeLine(ClaudeLineKind.ThinkingDelta) { Text = Str(delta, "thinking") ?? "" };
                    case "input_json_delta":
                        return new ClaudeLine(ClaudeLineKind.ToolInputDelta) { Index = index, Text = Str(delta, "partial_json") ?? "" };
                }
                break;
            case "content_block_start" when ev.TryGetProperty("content_block", out var block) && block.ValueKind == JsonValueKind.Object
                && Str(block, "type") == "tool_use" && Str(block, "id") is { } id && Str(block, "name") is { } name:
                return new ClaudeLine(ClaudeLineKind.ToolUseStart) { Index = index, Id = id, Name = name };
            case "message_stop":
                return new ClaudeLine(ClaudeLineKind.MessageStop);
            case "message_start" when ev.TryGetProperty("message", out var started) && started.ValueKind == JsonValueKind.Object
                && started.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object:
                // The prompt's size, known before any output: what an Anthropic client reads from our own message_start.
                return new ClaudeLine(ClaudeLineKind.StreamEvent) { Usage = ReadUsage(u) };
        }
        return new ClaudeLine(ClaudeLineKind.StreamEvent);
    }

    /// <summary>
    /// The tool_use blocks of an `assistant` line (claude writes one such line per content block, as the
    /// block completes). The stream events carry the same calls; this is what is left when they do not.
    /// </summary>
    private static ClaudeLine ParseAssistant(JsonElement root)
    {
        if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
            && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
        {
            var uses = new List<ClaudeToolUse>();
            foreach (var block in content.EnumerateArray())
            {
                if (block.ValueKind == JsonValueKind.Object && Str(block, "type") == "tool_use" && Str(block, "id") is { } id && Str(block, "name") is { } name)
                {
                    uses.Add(new ClaudeToolUse(id, name, block.TryGetProperty("input", out var input) ? input.GetRawText() : "{}"));
                }
            }
            if (uses.Count > 0)
            {
                return new ClaudeLine(ClaudeLineKind.AssistantToolUse) { ToolUses = uses };
            }
        }
        return new ClaudeLine(ClaudeLineKind.Other);
    }

    /// <summary>
    /// A request claude makes of us on stdout: `{"type":"control_request","request_id":..,"request":{"subtype":..}}`.
    /// For an sdk MCP server, subtype mcp_message with `server_name` and a JSON-RPC `message`.
    /// </summary>
    private static ClaudeLine? ParseControlRequest(JsonElement root)
    {
        if (Str(root, "request_id") is not { } requestId || !root.TryGetProperty("request", out var request) || request.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        var subtype = Str(request, "subtype");
        if (subtype != "mcp_message" || !request.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
        {
            return new ClaudeLine(ClaudeLineKind.ControlRequest) { RequestId = requestId, Subtype = subtype };
        }
        var method = Str(message, "method");
        var rpcId = message.TryGetProperty("id", out var id) && id.ValueKind is JsonValueKind.Number or JsonValueKind.String ? id.GetRawText() : null;
        var server = Str(request, "server_name");
        if (method == "tools/call" && rpcId is not null
            && message.TryGetProperty("params", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            return new ClaudeLine(ClaudeLineKind.ToolCallRequest)
            {
                RequestId = requestId,
                Server = server,
                RpcId = rpcId,
                Method = method,
                Name = Str(p, "name"),
                Id = p.TryGetProperty("_meta", out var meta) && meta.ValueKind == JsonValueKind.Object ? Str(meta, "claudecode/toolUseId") : null,
                Text = p.TryGetProperty("arguments", out var arguments) ? arguments.GetRawText() : "{}",
            };
        }
        return new ClaudeLine(ClaudeLineKind.McpRequest) { RequestId = requestId, Server = server, Method = method, RpcId = rpcId };
    }

    /// <summary>
    /// claude's answer to a control request of ours:
    /// `{"type":"control_response","response":{"subtype":"success"|"error","request_id":..,"response":{..}|"error":..}}`.
    /// IsError when it is an error, or a rewind_conversation that did not rewind (`"rewound":false`, with its `error`).
    /// </summary>
    private static ClaudeLine? ParseControlResponse(JsonElement root)
    {
        if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object || Str(response, "request_id") is not { } requestId)
        {
            return null;
        }
        var subtype = Str(response, "subtype");
        var refused = response.TryGetProperty("response", out var inner) && inner.ValueKind == JsonValueKind.Object
            && inner.TryGetProperty("rewound", out var rewound) && rewound.ValueKind == JsonValueKind.False;
        return new ClaudeLine(ClaudeLineKind.ControlResponse)
        {
            RequestId = requestId,
            Subtype = subtype,
            IsError = subtype != "success" || refused,
            Error = refused ? Str(inner, "error") : Str(response, "error"),
        };
    }

    /// <summary>`{"type":"rate_limit_event","rate_limit_info":{"status","resetsAt","rateLimitType","unifiedWindows":{"five_hour":{"utilization","resetsAt"},..}}}`.</summary>
    private static ClaudeLine ParseRateLimit(JsonElement root)
    {
        if (!root.TryGetProperty("rate_limit_info", out var info) || info.ValueKind != JsonValueKind.Object || Str(info, "status") is not { } status)
        {
            return new ClaudeLine(ClaudeLineKind.Other);
        }
        var windows = new List<ClaudeRateLimitWindow>();
        if (info.TryGetProperty("unifiedWindows", out var unified) && unified.ValueKind == JsonValueKind.Object)
        {
            foreach (var window in unified.EnumerateObject())
            {
                if (window.Value.ValueKind == JsonValueKind.Object && window.Value.TryGetProperty("utilization", out var u) && u.TryGetDouble(out var utilization))
                {
                    windows.Add(new ClaudeRateLimitWindow(window.Name, utilization, LongOrNull(window.Value, "resetsAt")));
                }
            }
        }
        return new ClaudeLine(ClaudeLineKind.RateLimit) { RateLimit = new ClaudeRateLimit(status, Str(info, "rateLimitType"), LongOrNull(info, "resetsAt"), windows) };
    }

    private static ClaudeLine ParseResult(JsonElement root)
    {
        TokenUsage? usage = null;
        if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
        {
            usage = ReadUsage(u);
        }
        string? structured = null;
        if (root.TryGetProperty("structured_output", out var so) && so.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
        {
            structured = so.GetRawText();
        }
        return new ClaudeLine(ClaudeLineKind.Result)
        {
            IsError = root.TryGetProperty("is_error", out var e) && e.ValueKind == JsonValueKind.True,
            Subtype = Str(root, "subtype"),
            StopReason = Str(root, "stop_reason"),
            Text = Str(root, "result"),
            ErrorStatus = Int(root, "api_error_status"),
            NumTurns = Int(root, "num_turns") ?? 0,
            Usage = usage,
            StructuredOutput = structured,
        };
    }

    /// <summary>Anthropic's usage object; OpenAI counts cached prompt tokens inside prompt_tokens, Anthropic counts them apart.</summary>
    private static TokenUsage ReadUsage(JsonElement u)
    {
        var input = Long(u, "input_tokens");
        var cacheRead = Long(u, "cache_read_input_tokens");
        var cacheCreation = Long(u, "cache_creation_input_tokens");
        var thinking = u.TryGetProperty("output_tokens_details", out var d) && d.ValueKind == JsonValueKind.Object ? Long(d, "thinking_tokens") : 0;
        return new TokenUsage(input + cacheRead + cacheCreation, Long(u, "output_tokens"), cacheRead, thinking);
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : 0;

    private static long? LongOrNull(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;

    /// <summary>
    /// The stream-json `initialize` control request the Agent SDK sends first, here with only the
    /// structured-output schema: the way to hand claude a schema too big for --json-schema's argv string.
    /// </summary>
    public static byte[] InitializeLine(string schemaJson)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "control_request");
            w.WriteString("request_id", "init_" + Guid.NewGuid().ToString("N")[..12]);
            w.WriteStartObject("request");
            w.WriteString("subtype", "initialize");
            w.WritePropertyName("jsonSchema");
            w.WriteRawValue(schemaJson, skipInputValidation: true);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    /// <summary>
    /// Rewinds claude's conversation to before the user message <paramref name="firstUuid"/>: with the
    /// conversation's first message, to nothing at all, in the same process (claude 2.1.331; it refuses with
    /// "stale target" unless <paramref name="lastUuid"/> is the last user message it has).
    /// </summary>
    public static byte[] RewindLine(string requestId, string firstUuid, string lastUuid)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "control_request");
            w.WriteString("request_id", requestId);
            w.WriteStartObject("request");
            w.WriteString("subtype", "rewind_conversation");
            w.WriteString("target_message_uuid", firstUuid);
            w.WriteString("last_seen_user_message_uuid", lastUuid);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    /// <summary>
    /// One stdin line carrying the turn's input. Earlier messages (a new session's history, or several
    /// new messages) go first as a transcript block that names each role; the last message follows
    /// as itself. System/developer messages are not here: they belong to the system prompt.
    /// </summary>
    /// <remarks>
    /// Earlier tool calls and results go into that transcript as text (<see cref="ToolCallPart.AsText"/>,
    /// <see cref="ToolResultPart.AsText"/>), not as tool_use/tool_result blocks. Checked with claude
    /// 2.1.331: stream-json input takes an `assistant` line with tool_use blocks, but claude sends it
    /// upstream ahead of the user message written before it (queued user lines are merged into one
    /// later message), so the order of the conversation is lost; and a tool_result block needs the
    /// tool_use of the message right before it, which one user line cannot hold. Text keeps the order
    /// and costs one line, one turn, one upstream request.
    /// </remarks>
    /// <param name="instruction">A line added after the message (<see cref="ToolChoice.Instruction"/>), or null.</param>
    /// <param name="uuid">The message's id in claude's conversation (claude keeps the one given), which rewind_conversation names; or null for one of claude's.</param>
    public static byte[] UserLine(IReadOnlyList<TurnMessage> messages, string? instruction = null, string? uuid = null)
    {
        var conversation = messages.Where(m => m.Role is not ("system" or "developer")).ToList();
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "user");
            if (uuid is not null)
            {
                w.WriteString("uuid", uuid);
            }
            w.WriteStartObject("message");
            w.WriteString("role", "user");
            w.WriteStartArray("content");
            if (conversation.Count > 1)
            {
                var transcript = new StringBuilder("<conversation_so_far>\n");
                foreach (var message in conversation.Take(conversation.Count - 1))
                {
                    transcript.Append('[').Append(message.Role).Append("]: ");
                    foreach (var part in message.Parts)
                    {
                        transcript.Append(part switch
                        {
                            TextPart t => t.Text,
                            ImageUrlPart or ImageDataPart => "[image attached below]",
                            ToolCallPart call => call.AsText(),
                            ToolResultPart result => result.AsText(),
                            _ => "",
                        });
                    }
                    transcript.Append("\n\n");
                }
                transcript.Append("</conversation_so_far>\nContinue this conversation: reply to the next message.");
                WriteText(w, transcript.ToString());
                foreach (var message in conversation.Take(conversation.Count - 1))
                {
                    foreach (var part in message.Parts)
                    {
                        WriteImage(w, part);
                    }
                }
            }
            if (conversation.Count > 0)
            {
                foreach (var part in conversation[^1].Parts)
                {
                    switch (part)
                    {
                        case TextPart t:
                            WriteText(w, t.Text);
                            break;
                        case ToolCallPart call:
                            WriteText(w, call.AsText());
                            break;
                        case ToolResultPart result:
                            WriteText(w, result.AsText());
                            break;
                        default:
                            WriteImage(w, part);
                            break;
                    }
                }
            }
            if (instruction is not null)
            {
                WriteText(w, instruction);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        var bytes = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(bytes);
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private static void WriteText(Utf8JsonWriter w, string text)
    {
        if (text.Length == 0)
        {
            return;
        }
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    private static void WriteImage(Utf8JsonWriter w, TurnPart part)
    {
        switch (part)
        {
            case ImageDataPart data:
                w.WriteStartObject();
                w.WriteString("type", "image");
                w.WriteStartObject("source");
                w.WriteString("type", "base64");
                w.WriteString("media_type", data.MediaType);
                w.WriteBase64String("data", data.Data);
                w.WriteEndObject();
                w.WriteEndObject();
                break;
            case ImageUrlPart url:
                w.WriteStartObject();
                w.WriteString("type", "image");
                w.WriteStartObject("source");
                w.WriteString("type", "url");
                w.WriteString("url", url.Url);
                w.WriteEndObject();
                w.WriteEndObject();
                break;
        }
    }
}
