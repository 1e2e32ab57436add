using System.Text.Json;
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
        group.MapPost("/", Create)
            .WithSummary("Create a response; streamed as server-sent events with \"stream\": true")
            .Accepts<ResponsesRequest>("application/json")
            .Produces<ResponseObject>()
            .Produces<ResponseLifecycleEvent>(200, "text/event-stream");
        group.MapStoredResponses();
        var registry = routes.ServiceProvider.GetRequiredService<ResponseRegistry>();
        routes.ServiceProvider.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(registry.CancelAll);
        return routes;
    }

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, TurnDriver driver, ResponseStore store, ResponseRegistry registry, HeldTurns held,
        ConversationSessions sessions, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("CodexApiServer.Responses");
        var (body, readError) = await RequestBody.ReadAsync(context.Request, ApiJsonContext.Wire.ResponsesRequest);
        if (readError is not null)
        {
            return readError;
        }
        var info = RequestInfo.Of(context);
        // Chosen first: the input and output item ids are derived from it (see ResponseItemIds).
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
            return ProviderErrors.ToApiError(routeError!).ToResult(context);
        }
        info.Provider = route.Model.Provider.ToString().ToLowerInvariant();

        // The results of tool calls a held turn waits for: that turn goes on.
        var results = TurnInput.TrailingToolResults(p.Messages);
        var (resumed, missing) = results.Count > 0 ? held.Take(results, info.ApiKeyId) : (null, null);
        if (missing is not null)
        {
            return new ApiError(400, $"No tool output found for function call {missing}.", "invalid_request_error", "invalid_value", "input").ToResult(context);
        }

        // Otherwise continue the previous response's live session with only the new input; if it is gone, replay the chain.
        // Without a previous response, the input may re-send a whole conversation we answered (store: false clients such
        // as the Codex CLI and the Agents SDK): that continues its live session with the items after our last answer.
        var history = previous is null ? [] : ResponseChain.History(store, previous);
        var full = new TurnRequest(route.Model, p.Instructions, [.. history, .. p.Messages], p.Effort, p.Schema,
            Tools: p.Tools, ToolChoice: p.ToolChoice, ParallelToolCalls: p.Body.ParallelToolCalls != false, Resumable: save);
        var (request, replay) = (full, (TurnRequest?)null);
        if (resumed is null && previous?.SessionId is { } sessionId && previous.Model == p.Model)
        {
            (request, replay) = (full with { Messages = p.Messages, SessionId = sessionId }, full);
        }
        else if (resumed is null && previous is null)
        {
            (request, replay) = ConversationReuse.Continue(sessions, route, p.Model, full);
        }
        if (previous is null && request.SessionId is { } reused)
        {
            LogSessionReused(logger, context.TraceIdentifier, reused);
        }

        var response = NewResponse(responseId, p, background ? "queued" : "in_progress", background, save);
        var row = new StoredResponse(response.Id, "response", response.CreatedAt, response.Status, p.Model, info.Provider, info.ApiKeyId,
            body.PreviousResponseId, null, JsonSerializer.Serialize(p.Items, ApiJsonContext.Wire.ListInputItem), "", background ? null : context.TraceIdentifier);
        void Persist(ResponseObject r, string? session)
        {
            if (save)
            {
                store.Save(row with { Status = r.Status, SessionId = session, BodyJson = JsonSerializer.Serialize(r, ApiJsonContext.Wire.ResponseObject) });
            }
        }
        Persist(response, null);

        var encoder = new ResponseEncoder(response, p.Summary is not null);
        // A turn that holds for tool calls waits in HeldTurns for the follow-up; its answer is stored like any other.
        async Task<TurnOutcome> RunAsync(HttpContext? http, CancellationToken cancellationToken, Action? onSlot)
        {
            void OnEnded(TurnEnded end)
            {
                if (previous is null && end.SessionId is { } next)
                {
                    ConversationReuse.Remember(sessions, route, p.Model, full, encoder.Response.OutputText, next);
                }
                Persist(encoder.Response, end.SessionId ?? request.SessionId);
            }
            return await driver.AnswerAsync(new TurnJob(route, request, replay, stream), resumed, results, info.ApiKeyId, encoder, http, cancellationToken, onSlot, OnEnded);
        }
        if (background)
        {
            var cts = registry.Register(response.Id, CancellationToken.None);
            _ = Task.Run(() => RunBackgroundAsync(registry, encoder, cts, Persist, logger,
                () => RunAsync(null, cts.Token, () => Persist(encoder.Response with { Status = "in_progress" }, null))), CancellationToken.None);
            return TypedResults.Json(response, ApiJsonContext.Wire.ResponseObject);
        }

        var foreground = registry.Register(response.Id, context.RequestAborted);
        try
        {
            var outcome = await RunAsync(context, foreground.Token, null);
            return outcome switch
            {
                { Streamed: true } => Results.Empty,
                { Error: { } error } => error.ToResult(context),
                _ => TypedResults.Json(encoder.Response, ApiJsonContext.Wire.ResponseObject),
            };
        }
        finally
        {
            registry.Complete(response.Id, encoder.Response);
        }
    }

    private static async Task RunBackgroundAsync(ResponseRegistry registry, ResponseEncoder encoder, CancellationTokenSource cts,
        Action<ResponseObject, string?> persist, ILogger logger, Func<Task<TurnOutcome>> run)
    {
        var final = encoder.Response;
        try
        {
            await run();
            final = encoder.Response;
        }
        catch (Exception e)
        {
            LogBackgroundFailed(logger, final.Id, e.GetType().Name, e.Message);
            final = final with { Status = "failed", Error = new ResponseError("server_error", "The server had an error while running this response.") };
            persist(final, null);
        }
        finally
        {
            registry.Complete(final.Id, final);
        }
    }

    private static ResponseObject NewResponse(string id, ParsedRequest p, string status, bool background, bool store) => new(
        id, "response", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), status, background, null, null, null,
        p.Body.Instructions, p.Body.MaxOutputTokens, p.Model, [], "", p.Body.ParallelToolCalls ?? true, p.Body.PreviousResponseId,
        new ReasoningConfig(p.Effort, p.Summary), store, p.Body.Temperature ?? 1.0, new TextConfig(p.Format),
        p.Body.ToolChoice.ValueKind is JsonValueKind.String or JsonValueKind.Object ? p.Body.ToolChoice.Clone() : AutoToolChoice,
        p.Body.Tools.ValueKind == JsonValueKind.Array ? [.. p.Body.Tools.EnumerateArray().Select(t => t.Clone())] : [],
        p.Body.TopP ?? 1.0, "disabled", p.Body.User, p.Metadata, null);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{RequestId} continues session {SessionId}")]
    private static partial void LogSessionReused(ILogger logger, string requestId, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "background response {ResponseId} failed: {ErrorType} {Reason}")]
    private static partial void LogBackgroundFailed(ILogger logger, string responseId, string errorType, string reason);
}
