using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// A turn as an Anthropic message: `message_start`, content blocks (thinking, text, tool_use) opened,
/// filled and stopped one after another, `message_delta` with the stop reason and usage, `message_stop`
/// when streamed; the <see cref="Message"/> either way. message_start waits for the first content so
/// that its input_tokens is the CLI's own count when the CLI reports it by then (Claude Code does, at
/// the upstream's message_start); otherwise it carries <paramref name="inputEstimate"/> and
/// message_delta the real count.
/// </summary>
public sealed class MessageEncoder(string id, string model, long inputEstimate) : ITurnEncoder
{
    private readonly List<ContentBlock> _content = [];
    private readonly StringBuilder _open = new();
    private string? _openType;
    private SseResponse? _stream;
    private bool _started;
    private TokenUsage? _usage;

    /// <summary>The answer, once the turn ended with one (not cancelled, not failed).</summary>
    public AnthropicMessage? Message { get; private set; }

    public Task OpenAsync(SseResponse stream)
    {
        _stream = stream;
        return Task.CompletedTask;
    }

    public Task UsageAsync(TokenUsage usage)
    {
        _usage = usage;
        return Task.CompletedTask;
    }

    public async Task TextAsync(string text)
    {
        if (text.Length == 0)
        {
            return;
        }
        await BlockAsync("text");
        _open.Append(text);
        await EmitAsync("content_block_delta", new ContentBlockDeltaEvent("content_block_delta", _content.Count, new BlockDelta("text_delta", Text: text)), ApiJsonContext.Wire.ContentBlockDeltaEvent);
    }

    public async Task ReasoningAsync(string text)
    {
        if (text.Length == 0)
        {
            return;
        }
        await BlockAsync("thinking");
        _open.Append(text);
        await EmitAsync("content_block_delta", new ContentBlockDeltaEvent("content_block_delta", _content.Count, new BlockDelta("thinking_delta", Thinking: text)), ApiJsonContext.Wire.ContentBlockDeltaEvent);
    }

    public async Task ToolCallsAsync(IReadOnlyList<ToolCall> calls)
    {
        await CloseBlockAsync();
        foreach (var call in calls)
        {
            var input = Input(call.Arguments);
            await StartAsync();
            var index = _content.Count;
            await EmitAsync("content_block_start", new ContentBlockStartEvent("content_block_start", index,
                new ContentBlock("tool_use", Id: call.Id, Name: call.Name, Input: Empty)), ApiJsonContext.Wire.ContentBlockStartEvent);
            await EmitAsync("content_block_delta", new ContentBlockDeltaEvent("content_block_delta", index, new BlockDelta("input_json_delta", PartialJson: input.GetRawText())), ApiJsonContext.Wire.ContentBlockDeltaEvent);
            await EmitAsync("content_block_stop", new ContentBlockStopEvent("content_block_stop", index), ApiJsonContext.Wire.ContentBlockStopEvent);
            _content.Add(new ContentBlock("tool_use", Id: call.Id, Name: call.Name, Input: input));
        }
    }

    public async Task EndAsync(TurnEnded end, ApiError? error)
    {
        await CloseBlockAsync();
        var stop = end.Reason switch
        {
            TurnEndReason.Stop => "end_turn",
            TurnEndReason.ToolCalls => "tool_use",
            _ => "max_tokens",
        };
        var usage = Usage(end.Usage ?? _usage, final: true);
        if (end.Answered)
        {
            Message = new AnthropicMessage(id, "message", "assistant", model, [.. _content], stop, null, usage);
        }
        if (_stream is null)
        {
            return;
        }
        if (error is not null)
        {
            // Mid-stream, as Anthropic's API reports it: an error event, and the stream ends.
            await _stream.WriteAsync("error", AnthropicErrors.Body(error.Status, error.Message), ApiJsonContext.Wire.AnthropicErrorBody);
            return;
        }
        if (Message is null)
        {
            return;
        }
        await StartAsync();
        await EmitAsync("message_delta", new MessageDeltaEvent("message_delta", new MessageDeltaBody(stop, null), usage), ApiJsonContext.Wire.MessageDeltaEvent);
        await EmitAsync("message_stop", new MessageStopEvent("message_stop"), ApiJsonContext.Wire.MessageStopEvent);
    }

    private static readonly JsonElement Empty = JsonDocument.Parse("{}").RootElement.Clone();

    /// <summary>A tool_use input is an object: the model's arguments when they are one, else an empty object.</summary>
    private static JsonElement Input(string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments);
            return document.RootElement.ValueKind == JsonValueKind.Object ? document.RootElement.Clone() : Empty;
        }
        catch (JsonException)
        {
            return Empty;
        }
    }

    private AnthropicUsage Usage(TokenUsage? usage, bool final) => usage is null
        ? new AnthropicUsage(inputEstimate, 0, 0, 0)
        : new AnthropicUsage(Math.Max(0, usage.InputTokens - usage.CachedInputTokens), final ? usage.OutputTokens : 0, 0, usage.CachedInputTokens);

    /// <summary>message_start, once, before the first block.</summary>
    private async Task StartAsync()
    {
        if (_started || _stream is null)
        {
            return;
        }
        _started = true;
        await EmitAsync("message_start", new MessageStartEvent("message_start",
            new AnthropicMessage(id, "message", "assistant", model, [], null, null, Usage(_usage, final: false))), ApiJsonContext.Wire.MessageStartEvent);
    }

    /// <summary>Makes the open block one of <paramref name="type"/>: the open one if it is, else a new one after closing it.</summary>
    private async Task BlockAsync(string type)
    {
        if (_openType == type)
        {
            return;
        }
        await CloseBlockAsync();
        await StartAsync();
        _openType = type;
        var block = type == "text" ? new ContentBlock("text", Text: "") : new ContentBlock("thinking", Thinking: "", Signature: "");
        await EmitAsync("content_block_start", new ContentBlockStartEvent("content_block_start", _content.Count, block), ApiJsonContext.Wire.ContentBlockStartEvent);
    }

    private async Task CloseBlockAsync()
    {
        if (_openType is not { } type)
        {
            return;
        }
        var index = _content.Count;
        var text = _open.ToString();
        if (type == "thinking")
        {
            // Clients keep a thinking block's signature to send it back; ours only marks it as ours.
            var signature = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
            await EmitAsync("content_block_delta", new ContentBlockDeltaEvent("content_block_delta", index, new BlockDelta("signature_delta", Signature: signature)), ApiJsonContext.Wire.ContentBlockDeltaEvent);
            _content.Add(new ContentBlock("thinking", Thinking: text, Signature: signature));
        }
        else
        {
            _content.Add(new ContentBlock("text", Text: text));
        }
        await EmitAsync("content_block_stop", new ContentBlockStopEvent("content_block_stop", index), ApiJsonContext.Wire.ContentBlockStopEvent);
        _open.Clear();
        _openType = null;
    }

    private Task EmitAsync<T>(string type, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        _stream is null ? Task.CompletedTask : _stream.WriteAsync(type, value, info);
}
