using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;

namespace CodexApiServer.Endpoints;

public static partial class ResponsesApi
{
    private static readonly JsonElement AutoToolChoice = JsonDocument.Parse("\"auto\"").RootElement.Clone();

    public static IEndpointRouteBuilder MapResponsesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/responses").RequireScope(RequiredScope.Responses);
        group.MapPost("/", Create);
        group.MapStoredResponses();
        var registry = routes.ServiceProvider.GetRequiredService<ResponseRegistry>();
        routes.ServiceProvider.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(registry.CancelAll);
        return routes;
    }

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
            p = ResponsesParser.Parse(body!, router.DefaultModel, responseId, (id, path) => ResponseChain.ResolveReference(store, info, id, path));
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
            if (previous is null || !ResponseChain.Visible(previous, info))
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
        var history = previous is null ? [] : ResponseChain.History(store, previous);
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
                _reasoningId = ResponseChain.ItemId("rs_", Current.Id, "o", 0);
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
            _itemId = ResponseChain.ItemId("msg_", Current.Id, "o", _itemIndex);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} turn failed: {Code} {Reason}")]
    private static partial void LogTurnFailed(ILogger logger, string requestId, string code, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "background response {ResponseId} failed: {ErrorType} {Reason}")]
    private static partial void LogBackgroundFailed(ILogger logger, string responseId, string errorType, string reason);
}
