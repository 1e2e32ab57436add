using System.Text;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// A turn as a chat completion: `chat.completion.chunk`s ending in `[DONE]` when streamed, and the
/// <see cref="Completion"/> either way. Reasoning, which OpenAI's chat API does not return, goes out as
/// `reasoning_content` (in deltas and in the message), the field reasoning-aware clients read.
/// </summary>
public sealed class ChatCompletionEncoder(string id, long created, string model, bool includeUsage) : ITurnEncoder
{
    private readonly StringBuilder _text = new();
    private readonly StringBuilder _reasoning = new();
    private readonly List<ChatToolCall> _toolCalls = [];
    private SseResponse? _stream;

    /// <summary>The answer, once the turn ended with one (not cancelled, not failed).</summary>
    public ChatCompletion? Completion { get; private set; }

    public Task OpenAsync(SseResponse stream)
    {
        _stream = stream;
        return ChunkAsync(new ChatDelta("assistant", ""), null);
    }

    public Task TextAsync(string text)
    {
        _text.Append(text);
        return text.Length > 0 ? ChunkAsync(new ChatDelta(Content: text), null) : Task.CompletedTask;
    }

    public Task ReasoningAsync(string text)
    {
        _reasoning.Append(text);
        return text.Length > 0 ? ChunkAsync(new ChatDelta(ReasoningContent: text), null) : Task.CompletedTask;
    }

    /// <summary>Each call as two deltas: its head (index, id, type, name, empty arguments), then its arguments.</summary>
    public async Task ToolCallsAsync(IReadOnlyList<ToolCall> calls)
    {
        foreach (var call in calls)
        {
            var index = _toolCalls.Count;
            _toolCalls.Add(new ChatToolCall(call.Id, "function", new ChatFunctionCall(call.Name, call.Arguments)));
            await ChunkAsync(new ChatDelta(ToolCalls: [new ChatToolCallDelta(index, call.Id, "function", new ChatFunctionDelta(call.Name, ""))]), null);
            if (call.Arguments.Length > 0)
            {
                await ChunkAsync(new ChatDelta(ToolCalls: [new ChatToolCallDelta(index, null, null, new ChatFunctionDelta(null, call.Arguments))]), null);
            }
        }
    }

    public async Task EndAsync(TurnEnded end, ApiError? error)
    {
        var usage = end.Usage ?? new TokenUsage(0, 0);
        var chatUsage = new ChatUsage(usage.InputTokens, usage.OutputTokens, usage.TotalTokens,
            new PromptTokensDetails(usage.CachedInputTokens), new CompletionTokensDetails(usage.ReasoningTokens));
        var finish = end.Reason switch
        {
            TurnEndReason.Stop => "stop",
            TurnEndReason.ToolCalls => "tool_calls",
            _ => "length",
        };
        if (end.Answered)
        {
            // With tool calls and no text, content is null, as OpenAI sends it.
            var content = _toolCalls.Count > 0 && _text.Length == 0 ? null : _text.ToString();
            Completion = new ChatCompletion(id, "chat.completion", created, model,
                [new ChatChoice(0, new ChatMessageOut("assistant", content, null, [], _reasoning.Length > 0 ? _reasoning.ToString() : null,
                    _toolCalls.Count > 0 ? _toolCalls : null), null, finish)], chatUsage);
        }
        if (_stream is null)
        {
            return;
        }
        if (error is not null)
        {
            // Mid-stream: the SDKs throw on a data object with a top-level error.
            await _stream.WriteAsync(null, new ErrorBody(error.Detail), ApiJsonContext.Wire.ErrorBody);
        }
        else if (Completion is not null)
        {
            await ChunkAsync(new ChatDelta(), finish);
            if (includeUsage)
            {
                await _stream.WriteAsync(null, new ChatChunk(id, "chat.completion.chunk", created, model, [], chatUsage), ApiJsonContext.Wire.ChatChunk);
            }
            await _stream.DoneAsync();
        }
    }

    private Task ChunkAsync(ChatDelta delta, string? finish) => _stream is null
        ? Task.CompletedTask
        : _stream.WriteAsync(null, new ChatChunk(id, "chat.completion.chunk", created, model, [new ChatChunkChoice(0, delta, null, finish)]), ApiJsonContext.Wire.ChatChunk);
}
