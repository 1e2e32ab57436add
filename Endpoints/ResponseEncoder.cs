using System.Text;
using System.Text.Json.Serialization.Metadata;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// A turn as a Response: the `response.*` events with their sequence numbers when streamed, and the
/// final <see cref="Response"/> either way. Output items are append-only: a reasoning summary first
/// (when asked for), then the message, then any function calls.
/// </summary>
/// <param name="start">The response as created (queued or in_progress), with the request's settings.</param>
/// <param name="summaries">Whether the request asked for reasoning summaries (reasoning.summary).</param>
public sealed class ResponseEncoder(ResponseObject start, bool summaries) : ITurnEncoder
{
    private readonly StringBuilder _text = new();
    private readonly StringBuilder _reasoning = new();
    private readonly List<OutputItem> _output = [];
    private SseResponse? _stream;
    private int _sequence;
    private string? _itemId;
    private int _itemIndex;
    private string? _reasoningId;

    /// <summary>The response as it stands; final once the turn has ended.</summary>
    public ResponseObject Response { get; private set; } = start;

    public async Task OpenAsync(SseResponse stream)
    {
        _stream = stream;
        await EmitAsync("response.created", n => new ResponseLifecycleEvent("response.created", Response, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
        await EmitAsync("response.in_progress", n => new ResponseLifecycleEvent("response.in_progress", Response, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
    }

    /// <summary>
    /// Reasoning becomes a summary item at output index 0, only when asked for and only before anything
    /// else: output indexes are append-only, so later reasoning has nowhere to go and is dropped.
    /// </summary>
    public async Task ReasoningAsync(string text)
    {
        if (!summaries || _itemId is not null || _output.Count > 0 || text.Length == 0)
        {
            return;
        }
        if (_reasoningId is null)
        {
            _reasoningId = ResponseItemIds.Output("rs_", Response.Id, 0);
            var item = new OutputItem("reasoning", _reasoningId, Summary: []);
            await EmitAsync("response.output_item.added", n => new OutputItemEvent("response.output_item.added", 0, item, n), ApiJsonContext.Wire.OutputItemEvent);
            await EmitAsync("response.reasoning_summary_part.added", n => new ReasoningSummaryPartEvent("response.reasoning_summary_part.added", _reasoningId, 0, 0, new SummaryText("summary_text", ""), n), ApiJsonContext.Wire.ReasoningSummaryPartEvent);
        }
        _reasoning.Append(text);
        await EmitAsync("response.reasoning_summary_text.delta", n => new ReasoningSummaryTextDeltaEvent("response.reasoning_summary_text.delta", _reasoningId, 0, 0, text, n), ApiJsonContext.Wire.ReasoningSummaryTextDeltaEvent);
    }

    private async Task CloseReasoningAsync()
    {
        if (_reasoningId is null || _output.Count > 0)
        {
            return;
        }
        var text = _reasoning.ToString();
        var part = new SummaryText("summary_text", text);
        var item = new OutputItem("reasoning", _reasoningId, Summary: [part]);
        _output.Add(item);
        await EmitAsync("response.reasoning_summary_text.done", n => new ReasoningSummaryTextDoneEvent("response.reasoning_summary_text.done", _reasoningId, 0, 0, text, n), ApiJsonContext.Wire.ReasoningSummaryTextDoneEvent);
        await EmitAsync("response.reasoning_summary_part.done", n => new ReasoningSummaryPartEvent("response.reasoning_summary_part.done", _reasoningId, 0, 0, part, n), ApiJsonContext.Wire.ReasoningSummaryPartEvent);
        await EmitAsync("response.output_item.done", n => new OutputItemEvent("response.output_item.done", 0, item, n), ApiJsonContext.Wire.OutputItemEvent);
    }

    public async Task TextAsync(string text)
    {
        await OpenMessageAsync();
        _text.Append(text);
        if (text.Length > 0)
        {
            await EmitAsync("response.output_text.delta", n => new OutputTextDeltaEvent("response.output_text.delta", _itemId!, _itemIndex, 0, text, [], n), ApiJsonContext.Wire.OutputTextDeltaEvent);
        }
    }

    private async Task OpenMessageAsync()
    {
        if (_itemId is not null)
        {
            return;
        }
        await CloseReasoningAsync();
        _itemIndex = _output.Count;
        _itemId = ResponseItemIds.Output("msg_", Response.Id, _itemIndex);
        var item = new OutputItem("message", _itemId, "in_progress", "assistant", []);
        await EmitAsync("response.output_item.added", n => new OutputItemEvent("response.output_item.added", _itemIndex, item, n), ApiJsonContext.Wire.OutputItemEvent);
        await EmitAsync("response.content_part.added", n => new ContentPartEvent("response.content_part.added", _itemId, _itemIndex, 0, new OutputText("output_text", "", [], []), n), ApiJsonContext.Wire.ContentPartEvent);
    }

    private async Task CloseMessageAsync(string status)
    {
        if (_itemId is null || _output.Count > _itemIndex)
        {
            return;
        }
        var text = _text.ToString();
        var part = new OutputText("output_text", text, [], []);
        var item = new OutputItem("message", _itemId, status, "assistant", [part]);
        _output.Add(item);
        await EmitAsync("response.output_text.done", n => new OutputTextDoneEvent("response.output_text.done", _itemId, _itemIndex, 0, text, [], n), ApiJsonContext.Wire.OutputTextDoneEvent);
        await EmitAsync("response.content_part.done", n => new ContentPartEvent("response.content_part.done", _itemId, _itemIndex, 0, part, n), ApiJsonContext.Wire.ContentPartEvent);
        await EmitAsync("response.output_item.done", n => new OutputItemEvent("response.output_item.done", _itemIndex, item, n), ApiJsonContext.Wire.OutputItemEvent);
    }

    /// <summary>Each call as a function_call item: added (in progress, no arguments), its arguments, done.</summary>
    public async Task ToolCallsAsync(IReadOnlyList<ToolCall> calls)
    {
        await CloseReasoningAsync();
        await CloseMessageAsync("completed");
        foreach (var call in calls)
        {
            var index = _output.Count;
            var id = ResponseItemIds.Output("fc_", Response.Id, index);
            var added = new OutputItem("function_call", id, "in_progress", CallId: call.Id, Name: call.Name, Arguments: "");
            var done = added with { Status = "completed", Arguments = call.Arguments };
            _output.Add(done);
            await EmitAsync("response.output_item.added", n => new OutputItemEvent("response.output_item.added", index, added, n), ApiJsonContext.Wire.OutputItemEvent);
            if (call.Arguments.Length > 0)
            {
                await EmitAsync("response.function_call_arguments.delta", n => new FunctionCallArgumentsDeltaEvent("response.function_call_arguments.delta", id, index, call.Arguments, n), ApiJsonContext.Wire.FunctionCallArgumentsDeltaEvent);
            }
            await EmitAsync("response.function_call_arguments.done", n => new FunctionCallArgumentsDoneEvent("response.function_call_arguments.done", id, index, call.Name, call.Arguments, n), ApiJsonContext.Wire.FunctionCallArgumentsDoneEvent);
            await EmitAsync("response.output_item.done", n => new OutputItemEvent("response.output_item.done", index, done, n), ApiJsonContext.Wire.OutputItemEvent);
        }
    }

    public async Task EndAsync(TurnEnded end, ApiError? error)
    {
        // A time limit or length cut reads as max_output_tokens: the reason clients already handle.
        var (status, incomplete) = end.Reason switch
        {
            TurnEndReason.Stop or TurnEndReason.ToolCalls => ("completed", null),
            TurnEndReason.Length or TurnEndReason.Timeout => ("incomplete", new IncompleteDetails("max_output_tokens")),
            TurnEndReason.Cancelled => ("cancelled", null),
            _ => ("failed", (IncompleteDetails?)null),
        };
        if (end.Answered && end.Reason != TurnEndReason.ToolCalls)
        {
            await OpenMessageAsync();
        }
        await CloseReasoningAsync();
        await CloseMessageAsync(status == "completed" ? "completed" : "incomplete");
        var usage = end.Usage;
        Response = Response with
        {
            Status = status,
            CompletedAt = status == "completed" ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : null,
            Error = error is null ? null : new ResponseError(error.Code ?? "server_error", error.Message),
            IncompleteDetails = incomplete,
            Output = [.. _output],
            OutputText = _text.ToString(),
            Usage = usage is null ? null : new ResponseUsage(usage.InputTokens, new InputTokensDetails(usage.CachedInputTokens), usage.OutputTokens,
                new OutputTokensDetails(usage.ReasoningTokens), usage.TotalTokens),
        };
        if (error is not null)
        {
            await EmitAsync("error", n => new StreamErrorEvent("error", error.Code ?? "server_error", error.Message, error.Param, n), ApiJsonContext.Wire.StreamErrorEvent);
        }
        var terminal = status switch
        {
            "completed" => "response.completed",
            "incomplete" => "response.incomplete",
            _ => "response.failed",
        };
        await EmitAsync(terminal, n => new ResponseLifecycleEvent(terminal, Response, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
    }

    /// <summary>Numbers every event, streamed or not, so a stored response and a streamed one agree.</summary>
    private Task EmitAsync<T>(string type, Func<int, T> make, JsonTypeInfo<T> info)
    {
        var value = make(_sequence++);
        return _stream is null ? Task.CompletedTask : _stream.WriteAsync(type, value, info);
    }
}
