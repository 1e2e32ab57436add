using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>Responses still running (foreground or background), so the cancel route can stop them.</summary>
public sealed class ResponseRegistry
{
    private readonly ConcurrentDictionary<string, Entry> _running = new(StringComparer.Ordinal);

    private sealed record Entry(CancellationTokenSource Cts, TaskCompletionSource<ResponseObject> Done);

    public CancellationTokenSource Register(string id, CancellationToken linked)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _running[id] = new Entry(cts, new TaskCompletionSource<ResponseObject>(TaskCreationOptions.RunContinuationsAsynchronously));
        return cts;
    }

    public void Complete(string id, ResponseObject final)
    {
        if (_running.TryRemove(id, out var entry))
        {
            entry.Done.TrySetResult(final);
            entry.Cts.Dispose();
        }
    }

    /// <summary>Stops a running response and waits for its final state; null when it is not running here.</summary>
    public async Task<ResponseObject?> CancelAsync(string id)
    {
        if (!_running.TryGetValue(id, out var entry))
        {
            return null;
        }
        try
        {
            await entry.Cts.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // It finished meanwhile; its final state is in Done.
        }
        return await entry.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void CancelAll()
    {
        foreach (var entry in _running.Values)
        {
            try
            {
                entry.Cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}

public static partial class ResponsesApi
{
    private static readonly JsonElement AutoToolChoice = JsonDocument.Parse("\"auto\"").RootElement.Clone();
    private static readonly JsonElement TextFormat = JsonDocument.Parse("""{"type":"text"}""").RootElement.Clone();
    private static readonly string[] InputRoles = ["user", "system", "developer", "assistant"];

    public static IEndpointRouteBuilder MapResponsesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/responses").RequireScope(RequiredScope.Responses);
        group.MapPost("/", Create);
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapDelete("/{id}", Delete);
        group.MapGet("/{id}/input_items", InputItems);
        group.MapPost("/{id}/cancel", Cancel);
        var registry = routes.ServiceProvider.GetRequiredService<ResponseRegistry>();
        routes.ServiceProvider.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(registry.CancelAll);
        return routes;
    }

    private sealed record ParsedRequest(
        string Model,
        string? Instructions,
        List<TurnMessage> Messages,
        List<InputItem> Items,
        string? Effort,
        string? Summary,
        JsonElement? Schema,
        JsonElement Format,
        Dictionary<string, string> Metadata,
        ResponsesRequest Body);

    private sealed record DriveResult(ResponseObject Final, ApiError? Error, string? SessionId);

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, ResponseStore store, ResponseRegistry registry, StreamingOptions streaming, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("CodexApiServer.Responses");
        var (body, readError) = await RequestBody.ReadAsync(context.Request, ApiJsonContext.Wire.ResponsesRequest);
        if (readError is not null)
        {
            return readError;
        }
        var info = RequestInfo.Of(context);
        // Chosen first: the input and output item ids are derived from it (see ItemId).
        var responseId = TurnInput.NewId("resp_");
        ParsedRequest p;
        try
        {
            p = Parse(body!, router.DefaultModel, responseId, (id, path) => ResolveReference(store, info, id, path));
        }
        catch (InputException e)
        {
            return e.ToApiError().ToResult(context);
        }
        info.Model = p.Model;
        var background = body!.Background == true;
        var save = body.Store != false;
        var stream = body.Stream == true;
        if (background && !save)
        {
            return new ApiError(400, "Background responses must be stored: drop 'store': false.", "invalid_request_error", "invalid_value", "background").ToResult(context);
        }
        if (background && stream)
        {
            return new ApiError(400, "Streaming a background response is not supported by this server; poll GET /v1/responses/{id} instead.", "invalid_request_error", "invalid_value", "stream").ToResult(context);
        }

        StoredResponse? previous = null;
        if (body.PreviousResponseId is { } previousId)
        {
            previous = store.Get(previousId);
            if (previous is null || !Visible(previous, info))
            {
                return new ApiError(404, $"Previous response with id '{previousId}' not found.", "invalid_request_error", "not_found", "previous_response_id").ToResult(context);
            }
            if (previous.Status is "queued" or "in_progress")
            {
                return new ApiError(400, $"Previous response with id '{previousId}' is still {previous.Status}; wait for it to finish.", "invalid_request_error", "invalid_value", "previous_response_id").ToResult(context);
            }
        }

        var (route, routeError) = router.Resolve(p.Model);
        if (route is null)
        {
            return routeError!.ToResult(context);
        }
        info.Provider = route.Model.Provider.ToString().ToLowerInvariant();

        // Continue the previous response's live session with only the new input; if it is gone, replay the chain.
        var history = previous is null ? [] : History(store, previous);
        var full = new TurnRequest(route.Model, p.Instructions, [.. history, .. p.Messages], p.Effort, p.Schema);
        var request = full;
        TurnRequest? replay = null;
        if (previous?.SessionId is { } sessionId && previous.Model == p.Model)
        {
            request = full with { Messages = p.Messages, SessionId = sessionId };
            replay = full;
        }

        var response = NewResponse(responseId, p, background ? "queued" : "in_progress", background, save);
        var row = new StoredResponse(response.Id, "response", response.CreatedAt, response.Status, p.Model, info.Provider, info.ApiKeyId,
            body.PreviousResponseId, null, JsonSerializer.Serialize(p.Items, ApiJsonContext.Wire.ListInputItem), "");
        void Persist(ResponseObject r, string? session)
        {
            if (save)
            {
                store.Save(row with { Status = r.Status, SessionId = session, BodyJson = JsonSerializer.Serialize(r, ApiJsonContext.Wire.ResponseObject) });
            }
        }
        Persist(response, null);

        if (background)
        {
            var cts = registry.Register(response.Id, CancellationToken.None);
            _ = Task.Run(() => RunBackgroundAsync(router, registry, route, request, replay, response, p.Summary is not null, cts, Persist, logger), CancellationToken.None);
            return TypedResults.Json(response, ApiJsonContext.Wire.ResponseObject);
        }

        var foreground = registry.Register(response.Id, context.RequestAborted);
        var final = response;
        try
        {
            var (lease, busy) = await router.AcquireAsync(route, request, foreground.Token);
            if (lease is null)
            {
                final = response with { Status = "failed", Error = new ResponseError(busy!.Code ?? "rate_limit_exceeded", busy.Message) };
                Persist(final, null);
                return busy.ToResult(context);
            }
            await using var run = router.Start(route, request, replay, lease, foreground.Token);
            var builder = new ResponseBuilder(response, stream ? context.Response : null, p.Summary is not null);
            var result = await DriveAsync(builder, run, stream ? streaming.KeepAliveInterval : Timeout.InfiniteTimeSpan);
            final = result.Final;
            Persist(final, result.SessionId ?? request.SessionId);
            if (run.Usage is { } usage)
            {
                info.InputTokens = usage.InputTokens;
                info.OutputTokens = usage.OutputTokens;
                info.CachedTokens = usage.CachedInputTokens;
                info.ReasoningTokens = usage.ReasoningTokens;
            }
            if (result.Error is not null)
            {
                LogTurnFailed(logger, context.TraceIdentifier, result.Error.Code ?? "-", result.Error.Message);
            }
            if (builder.Committed)
            {
                return Results.Empty;
            }
            if (result.Error is not null && final.Status == "failed")
            {
                return result.Error.ToResult(context);
            }
            return TypedResults.Json(final, ApiJsonContext.Wire.ResponseObject);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested || foreground.IsCancellationRequested)
        {
            final = final with { Status = "cancelled" };
            Persist(final, null);
            return Results.Empty;
        }
        finally
        {
            registry.Complete(response.Id, final);
        }
    }

    private static async Task RunBackgroundAsync(ProviderRouter router, ResponseRegistry registry, RoutedModel route, TurnRequest request, TurnRequest? replay,
        ResponseObject response, bool summaries, CancellationTokenSource cts, Action<ResponseObject, string?> persist, ILogger logger)
    {
        var final = response;
        try
        {
            var (lease, busy) = await router.AcquireAsync(route, request, cts.Token);
            if (lease is null)
            {
                final = response with { Status = "failed", Error = new ResponseError(busy!.Code ?? "rate_limit_exceeded", busy.Message) };
                persist(final, null);
                return;
            }
            var running = response with { Status = "in_progress" };
            persist(running, null);
            await using var run = router.Start(route, request, replay, lease, cts.Token);
            var result = await DriveAsync(new ResponseBuilder(running, null, summaries), run, Timeout.InfiniteTimeSpan);
            final = result.Final;
            persist(final, result.SessionId ?? request.SessionId);
        }
        catch (OperationCanceledException)
        {
            final = response with { Status = "cancelled" };
            persist(final, null);
        }
        catch (Exception e)
        {
            LogBackgroundFailed(logger, response.Id, e.GetType().Name, e.Message);
            final = response with { Status = "failed", Error = new ResponseError("server_error", "The server had an error while running this response.") };
            persist(final, null);
        }
        finally
        {
            registry.Complete(response.Id, final);
        }
    }

    /// <summary>Feeds the turn's events through the builder until the turn ends.</summary>
    private static async Task<DriveResult> DriveAsync(ResponseBuilder builder, TurnRun run, TimeSpan idle)
    {
        while (true)
        {
            var e = await run.NextAsync(idle);
            // A stream starts at the first event (or the first silence), so an early failure is still a plain HTTP error.
            if (builder.Streaming && !builder.Committed && !(e is TurnFailed && !run.Cancelled))
            {
                await builder.CommitAsync();
            }
            switch (e)
            {
                case null when run.Cancelled:
                    return new DriveResult(await builder.FinishAsync("cancelled", null, null, run.Usage, null), null, null);
                case null when builder.Streaming:
                    await builder.KeepAliveAsync();
                    break;
                case null:
                    var crash = new ApiError(502, "The provider ended the turn without an answer.", "server_error", "server_error");
                    return new DriveResult(await builder.FinishAsync("failed", new ResponseError("server_error", crash.Message), null, run.Usage, crash), crash, null);
                case TextDelta delta:
                    await builder.TextAsync(delta.Text);
                    break;
                case ReasoningDelta reasoning:
                    await builder.ReasoningAsync(reasoning.Text);
                    break;
                case TurnCompleted done when done.FinishReason == "length" || run.TimedOut:
                    // A time limit or length cut reads as max_output_tokens: the reason clients already handle.
                    return new DriveResult(await builder.FinishAsync("incomplete", null, new IncompleteDetails("max_output_tokens"), run.Usage, null), null, done.SessionId);
                case TurnCompleted done:
                    return new DriveResult(await builder.FinishAsync("completed", null, null, run.Usage, null), null, done.SessionId);
                case TurnFailed when run.Cancelled:
                    return new DriveResult(await builder.FinishAsync("cancelled", null, null, run.Usage, null), null, null);
                case TurnFailed failed:
                    var error = ProviderRouter.MapError(failed.Error);
                    return new DriveResult(await builder.FinishAsync("failed", new ResponseError(error.Code ?? "server_error", error.Message), null, run.Usage, error), error, null);
            }
        }
    }

    /// <summary>Builds the Response and, when streaming, writes each event as it happens.</summary>
    /// <param name="summaries">Whether the request asked for reasoning summaries (reasoning.summary).</param>
    private sealed class ResponseBuilder(ResponseObject start, HttpResponse? http, bool summaries)
    {
        private readonly StringBuilder _text = new();
        private readonly StringBuilder _reasoning = new();
        private int _sequence;
        private string? _itemId;
        private int _itemIndex;
        private string? _reasoningId;
        private OutputItem? _reasoningItem;
        private bool _clientGone;

        public ResponseObject Current { get; private set; } = start;
        public bool Streaming => http is not null;
        public bool Committed { get; private set; }

        public async Task CommitAsync()
        {
            Committed = true;
            Sse.Start(http!.HttpContext);
            await EmitAsync("response.created", n => new ResponseLifecycleEvent("response.created", Current, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
            await EmitAsync("response.in_progress", n => new ResponseLifecycleEvent("response.in_progress", Current, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
        }

        public async Task KeepAliveAsync()
        {
            if (!_clientGone)
            {
                try
                {
                    await Sse.KeepAliveAsync(http!);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                    _clientGone = true;
                }
            }
        }

        /// <summary>
        /// Reasoning becomes a summary item at output index 0, only when asked for and only before the
        /// answer starts: output indexes are append-only, so later reasoning has nowhere to go and is dropped.
        /// </summary>
        public async Task ReasoningAsync(string delta)
        {
            if (!summaries || _itemId is not null || _reasoningItem is not null || delta.Length == 0)
            {
                return;
            }
            if (_reasoningId is null)
            {
                _reasoningId = ItemId("rs_", Current.Id, "o", 0);
                var item = new OutputItem("reasoning", _reasoningId, Summary: []);
                await EmitAsync("response.output_item.added", n => new OutputItemEvent("response.output_item.added", 0, item, n), ApiJsonContext.Wire.OutputItemEvent);
                await EmitAsync("response.reasoning_summary_part.added", n => new ReasoningSummaryPartEvent("response.reasoning_summary_part.added", _reasoningId, 0, 0, new SummaryText("summary_text", ""), n), ApiJsonContext.Wire.ReasoningSummaryPartEvent);
            }
            _reasoning.Append(delta);
            await EmitAsync("response.reasoning_summary_text.delta", n => new ReasoningSummaryTextDeltaEvent("response.reasoning_summary_text.delta", _reasoningId, 0, 0, delta, n), ApiJsonContext.Wire.ReasoningSummaryTextDeltaEvent);
        }

        private async Task CloseReasoningAsync()
        {
            if (_reasoningId is null || _reasoningItem is not null)
            {
                return;
            }
            var text = _reasoning.ToString();
            var part = new SummaryText("summary_text", text);
            _reasoningItem = new OutputItem("reasoning", _reasoningId, Summary: [part]);
            await EmitAsync("response.reasoning_summary_text.done", n => new ReasoningSummaryTextDoneEvent("response.reasoning_summary_text.done", _reasoningId, 0, 0, text, n), ApiJsonContext.Wire.ReasoningSummaryTextDoneEvent);
            await EmitAsync("response.reasoning_summary_part.done", n => new ReasoningSummaryPartEvent("response.reasoning_summary_part.done", _reasoningId, 0, 0, part, n), ApiJsonContext.Wire.ReasoningSummaryPartEvent);
            await EmitAsync("response.output_item.done", n => new OutputItemEvent("response.output_item.done", 0, _reasoningItem, n), ApiJsonContext.Wire.OutputItemEvent);
        }

        public async Task TextAsync(string delta)
        {
            await OpenItemAsync();
            _text.Append(delta);
            if (delta.Length > 0)
            {
                await EmitAsync("response.output_text.delta", n => new OutputTextDeltaEvent("response.output_text.delta", _itemId!, _itemIndex, 0, delta, [], n), ApiJsonContext.Wire.OutputTextDeltaEvent);
            }
        }

        private async Task OpenItemAsync()
        {
            if (_itemId is not null)
            {
                return;
            }
            await CloseReasoningAsync();
            _itemIndex = _reasoningItem is null ? 0 : 1;
            _itemId = ItemId("msg_", Current.Id, "o", _itemIndex);
            var item = new OutputItem("message", _itemId, "in_progress", "assistant", []);
            await EmitAsync("response.output_item.added", n => new OutputItemEvent("response.output_item.added", _itemIndex, item, n), ApiJsonContext.Wire.OutputItemEvent);
            await EmitAsync("response.content_part.added", n => new ContentPartEvent("response.content_part.added", _itemId, _itemIndex, 0, new OutputText("output_text", "", [], []), n), ApiJsonContext.Wire.ContentPartEvent);
        }

        /// <param name="streamError">Sent as an `error` event before response.failed.</param>
        public async Task<ResponseObject> FinishAsync(string status, ResponseError? error, IncompleteDetails? incomplete, TokenUsage? usage, ApiError? streamError)
        {
            if (status is "completed" or "incomplete")
            {
                await OpenItemAsync();
            }
            await CloseReasoningAsync();
            var text = _text.ToString();
            var output = new List<OutputItem>();
            if (_reasoningItem is not null)
            {
                output.Add(_reasoningItem);
            }
            if (_itemId is not null)
            {
                var part = new OutputText("output_text", text, [], []);
                var item = new OutputItem("message", _itemId, status == "completed" ? "completed" : "incomplete", "assistant", [part]);
                output.Add(item);
                await EmitAsync("response.output_text.done", n => new OutputTextDoneEvent("response.output_text.done", _itemId, _itemIndex, 0, text, [], n), ApiJsonContext.Wire.OutputTextDoneEvent);
                await EmitAsync("response.content_part.done", n => new ContentPartEvent("response.content_part.done", _itemId, _itemIndex, 0, part, n), ApiJsonContext.Wire.ContentPartEvent);
                await EmitAsync("response.output_item.done", n => new OutputItemEvent("response.output_item.done", _itemIndex, item, n), ApiJsonContext.Wire.OutputItemEvent);
            }
            Current = Current with
            {
                Status = status,
                CompletedAt = status == "completed" ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() : null,
                Error = error,
                IncompleteDetails = incomplete,
                Output = output,
                OutputText = text,
                Usage = usage is null ? null : new ResponseUsage(usage.InputTokens, new InputTokensDetails(usage.CachedInputTokens), usage.OutputTokens,
                    new OutputTokensDetails(usage.ReasoningTokens), usage.TotalTokens),
            };
            if (streamError is not null)
            {
                await EmitAsync("error", n => new StreamErrorEvent("error", streamError.Code ?? "server_error", streamError.Message, streamError.Param, n), ApiJsonContext.Wire.StreamErrorEvent);
            }
            var terminal = status switch
            {
                "completed" => "response.completed",
                "incomplete" => "response.incomplete",
                _ => "response.failed",
            };
            await EmitAsync(terminal, n => new ResponseLifecycleEvent(terminal, Current, n), ApiJsonContext.Wire.ResponseLifecycleEvent);
            return Current;
        }

        private async Task EmitAsync<T>(string type, Func<int, T> make, JsonTypeInfo<T> info)
        {
            var value = make(_sequence++);
            if (http is null || !Committed || _clientGone)
            {
                return;
            }
            try
            {
                await Sse.WriteAsync(http, type, value, info);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The client left: the turn is being cancelled; keep building so the stored response is right.
                _clientGone = true;
            }
        }
    }

    private static ResponseObject NewResponse(string id, ParsedRequest p, string status, bool background, bool store) => new(
        id, "response", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), status, background, null, null, null,
        p.Body.Instructions, p.Body.MaxOutputTokens, p.Model, [], "", p.Body.ParallelToolCalls ?? true, p.Body.PreviousResponseId,
        new ReasoningConfig(p.Effort, p.Summary), store, p.Body.Temperature ?? 1.0, new TextConfig(p.Format),
        p.Body.ToolChoice.ValueKind is JsonValueKind.String or JsonValueKind.Object ? p.Body.ToolChoice.Clone() : AutoToolChoice,
        [], p.Body.TopP ?? 1.0, "disabled", p.Body.User, p.Metadata, null);

    /// <summary>The conversation up to and including <paramref name="last"/>: each turn's input, then its answer.</summary>
    private static List<TurnMessage> History(ResponseStore store, StoredResponse last)
    {
        var chain = new List<StoredResponse>();
        for (var r = last; r is not null && chain.Count < 1000; r = r.PreviousResponseId is { } id ? store.Get(id) : null)
        {
            chain.Add(r);
        }
        chain.Reverse();
        var messages = new List<TurnMessage>();
        foreach (var r in chain)
        {
            var items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
            foreach (var item in items)
            {
                try
                {
                    messages.Add(TurnInput.FromItem(item));
                }
                catch (InputException)
                {
                    // Stored by an earlier version in a form we no longer read; the rest of the history still helps.
                }
            }
            if (r.BodyJson.Length > 0 && JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body)
            {
                var answer = string.Concat(body.Output.Where(o => o.Type == "message").SelectMany(o => o.Content ?? []).Select(c => c.Text));
                if (answer.Length > 0)
                {
                    messages.Add(new TurnMessage("assistant", [new TextPart(answer)]));
                }
            }
        }
        return messages;
    }

    /// <param name="resolve">Looks up an item_reference: the message it stands for, null for an item that adds nothing (reasoning).</param>
    /// <param name="defaultModel">For a request without a model: the original product documents <c>model</c> as optional.</param>
    private static ParsedRequest Parse(ResponsesRequest body, string defaultModel, string responseId, Func<string, string, TurnMessage?> resolve)
    {
        body = body with { Model = string.IsNullOrEmpty(body.Model) ? defaultModel : body.Model };
        TurnInput.CheckIgnoredFields([.. body.Ignored ?? [], new("tool_choice", body.ToolChoice)]);
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
        var items = messages.Select((m, index) => TurnInput.ToItem(m, ItemId("msg_", responseId, "i", index))).ToList();

        // Leading system/developer input items join the instructions, as chat's leading system messages do.
        var instructions = new List<string>();
        if (!string.IsNullOrEmpty(body.Instructions))
        {
            instructions.Add(body.Instructions);
        }
        var lead = messages.TakeWhile(m => m.Role is "system" or "developer").ToList();
        if (lead.Count < messages.Count)
        {
            instructions.AddRange(lead.Select(m => string.Concat(m.Parts.OfType<TextPart>().Select(t => t.Text))));
            messages = messages.Skip(lead.Count).ToList();
        }

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

        return new ParsedRequest(body.Model, instructions.Count > 0 ? string.Join("\n\n", instructions) : null, messages, items,
            effort, summary, schema, format, ParseMetadata(body.Metadata), body);
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
        var type = Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
        switch (type)
        {
            case "message":
                var role = Str(item, "role") ?? throw new InputException($"Missing required parameter: '{path}.role'.", path + ".role", "missing_required_parameter");
                if (!InputRoles.Contains(role))
                {
                    throw new InputException($"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system' and 'developer'.", path + ".role");
                }
                var parts = new List<TurnPart>();
                if (!item.TryGetProperty("content", out var content) || content.ValueKind is JsonValueKind.Null)
                {
                    throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter");
                }
                if (content.ValueKind == JsonValueKind.String)
                {
                    parts.Add(new TextPart(content.GetString()!));
                }
                else if (content.ValueKind == JsonValueKind.Array)
                {
                    var j = 0;
                    foreach (var part in content.EnumerateArray())
                    {
                        parts.Add(ParseContent(part, $"{path}.content[{j}]"));
                        j++;
                    }
                }
                else
                {
                    throw new InputException($"Invalid type for '{path}.content': expected a string or an array of content parts.", path + ".content", "invalid_type");
                }
                return new TurnMessage(role, parts);
            case "function_call":
                // No tool events in the provider contract: earlier calls travel as text so the history stays whole.
                return new TurnMessage("assistant", [new TextPart($"[called tool {Str(item, "name")} with arguments {Str(item, "arguments")}]")]);
            case "function_call_output":
                var output = item.TryGetProperty("output", out var o) ? (o.ValueKind == JsonValueKind.String ? o.GetString() : o.GetRawText()) : "";
                return new TurnMessage("tool", [new TextPart($"[result of tool call {Str(item, "call_id")}] {output}")]);
            case "reasoning":
                return null;
            case "item_reference":
                // Clients that keep store on (the Vercel AI SDK) send earlier output back by id alone.
                return resolve(Str(item, "id") ?? throw new InputException($"Missing required parameter: '{path}.id'.", path + ".id", "missing_required_parameter"), path + ".id");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Input items of type '{type}' are not supported by this server; send messages.", path + ".type");
        }
    }

    private static TurnPart ParseContent(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an object.", path, "invalid_type");
        }
        var type = Str(part, "type");
        switch (type)
        {
            case "input_text" or "output_text" or "text":
                return Str(part, "text") is { } text
                    ? new TextPart(text)
                    : throw new InputException($"Missing required parameter: '{path}.text'.", path + ".text", "missing_required_parameter");
            case "refusal":
                return new TextPart(Str(part, "refusal") ?? "");
            case "input_image":
                if (part.TryGetProperty("file_id", out var fileId) && fileId.ValueKind == JsonValueKind.String)
                {
                    throw new InputException("Images by file_id are not supported by this server; send image_url (http(s) or data: URL).", path + ".file_id");
                }
                return TurnInput.Image(Str(part, "image_url"), path + ".image_url");
            case "input_file" or "input_audio":
                throw new InputException($"Content parts of type '{type}' are not supported by this server; send text or images.", path + ".type");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'input_text', 'input_image' and 'output_text'.", path + ".type");
        }
    }

    private static string? Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>
    /// Item ids carry their response's id ("msg_" + the hex of "resp_…" + "_o1"), so an item_reference
    /// finds its stored response by primary key, with no index of items.
    /// </summary>
    /// <param name="side">"i" for an input item, "o" for an output item.</param>
    private static string ItemId(string prefix, string responseId, string side, int index) =>
        $"{prefix}{responseId["resp_".Length..]}_{side}{index}";

    private static TurnMessage? ResolveReference(ResponseStore store, RequestInfo info, string id, string path)
    {
        var hexStart = id.IndexOf('_', StringComparison.Ordinal) + 1;
        var hexEnd = id.IndexOf('_', hexStart);
        var stored = hexStart > 0 && hexEnd > hexStart ? store.Get("resp_" + id[hexStart..hexEnd]) : null;
        if (stored is not null && Visible(stored, info))
        {
            if (stored.BodyJson.Length > 0 && JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body
                && body.Output.FirstOrDefault(o => o.Id == id) is { } output)
            {
                return output.Type == "message"
                    ? new TurnMessage(output.Role ?? "assistant", [new TextPart(string.Concat((output.Content ?? []).Select(c => c.Text)))])
                    : null; // a reasoning summary: the model's own notes, not conversation
            }
            if ((JsonSerializer.Deserialize(stored.InputJson, ApiJsonContext.Wire.ListInputItem) ?? []).FirstOrDefault(i => i.Id == id) is { } input)
            {
                return TurnInput.FromItem(input);
            }
        }
        throw new InputException($"Item with id '{id}' not found.", path, "not_found");
    }

    private static bool Visible(StoredResponse r, RequestInfo info) => info.CanSee(r.ApiKeyId);

    private static ApiError NotFound(string id) => new(404, $"Response with id '{id}' not found.", "invalid_request_error", "not_found");

    private static Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>> Get(string id, HttpContext context, ResponseStore store) =>
        store.Get(id) is { } r && Visible(r, RequestInfo.Of(context))
            ? TypedResults.Json(JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!, ApiJsonContext.Wire.ResponseObject)
            : NotFound(id).ToResult(context);

    private static async Task<Results<JsonHttpResult<DeletedObject>, JsonHttpResult<ErrorBody>>> Delete(string id, HttpContext context, ResponseStore store, ResponseRegistry registry, ProviderRouter router)
    {
        if (store.Get(id) is not { } r || !Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        await registry.CancelAsync(id);
        store.Delete(id);
        // What was deleted must not live on in the CLI's own files.
        if (r.SessionId is { } session)
        {
            await router.DeleteSessionAsync(r.Provider, session);
        }
        return TypedResults.Json(new DeletedObject(id, "response", true), ApiJsonContext.Wire.DeletedObject);
    }

    private static async Task<Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>>> Cancel(string id, HttpContext context, ResponseStore store, ResponseRegistry registry)
    {
        var stored = store.Get(id);
        if (stored is not null && !Visible(stored, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        if (await registry.CancelAsync(id) is { } cancelled)
        {
            return TypedResults.Json(cancelled, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored is null)
        {
            return NotFound(id).ToResult(context);
        }
        var body = JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject)!;
        if (stored.Status is "queued" or "in_progress")
        {
            // Left over from a server that stopped mid-turn: nothing runs it any more.
            body = body with { Status = "cancelled" };
            store.Save(stored with { Status = "cancelled", BodyJson = JsonSerializer.Serialize(body, ApiJsonContext.Wire.ResponseObject) });
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored.Status == "cancelled")
        {
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        return new ApiError(400, $"Cannot cancel a response with status '{stored.Status}'.", "invalid_request_error", "invalid_value").ToResult(context);
    }

    private static (int Limit, bool Ascending, ApiError? Error) Paging(HttpRequest request)
    {
        var limit = 20;
        if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l[0], out limit) || limit is < 1 or > 100))
        {
            return (0, false, new ApiError(400, "Invalid 'limit': expected an integer between 1 and 100.", "invalid_request_error", "invalid_value", "limit"));
        }
        var order = request.Query["order"] is { Count: > 0 } o ? o[0] : "desc";
        if (order is not ("asc" or "desc"))
        {
            return (0, false, new ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", "invalid_request_error", "invalid_value", "order"));
        }
        return (limit, order == "asc", null);
    }

    private static Results<JsonHttpResult<ResponseList>, JsonHttpResult<ErrorBody>> List(HttpContext context, ResponseStore store)
    {
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var info = RequestInfo.Of(context);
        StoredResponse? after = null;
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            after = store.Get(a[0]!);
            if (after is null || !Visible(after, info))
            {
                return new ApiError(404, $"Response with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
        }
        var (rows, hasMore) = store.List(info.OwnerFilter, limit, after, ascending);
        var data = rows.Select(r => JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!).ToList();
        return TypedResults.Json(new ResponseList("list", data, data.FirstOrDefault()?.Id, data.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.ResponseList);
    }

    private static Results<JsonHttpResult<InputItemList>, JsonHttpResult<ErrorBody>> InputItems(string id, HttpContext context, ResponseStore store)
    {
        if (store.Get(id) is not { } r || !Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        IEnumerable<InputItem> items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
        if (!ascending)
        {
            items = items.Reverse();
        }
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            var list = items.ToList();
            var index = list.FindIndex(i => i.Id == a[0]);
            if (index < 0)
            {
                return new ApiError(404, $"Input item with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
            items = list.Skip(index + 1);
        }
        var page = items.Take(limit + 1).ToList();
        var hasMore = page.Count > limit;
        page = page.Take(limit).ToList();
        return TypedResults.Json(new InputItemList("list", page, page.FirstOrDefault()?.Id, page.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.InputItemList);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} turn failed: {Code} {Reason}")]
    private static partial void LogTurnFailed(ILogger logger, string requestId, string code, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "background response {ResponseId} failed: {ErrorType} {Reason}")]
    private static partial void LogBackgroundFailed(ILogger logger, string responseId, string errorType, string reason);
}
