using System.Text;
using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

public static partial class ChatCompletionsApi
{
    public static IEndpointRouteBuilder MapChatCompletionsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/chat").RequireScope(RequiredScope.Chat);
        group.MapPost("/completions", Create);
        group.MapGet("/completions/{id}", Get);
        return routes;
    }

    /// <summary>A stored completion, as it was served.</summary>
    private static Results<ContentHttpResult, JsonHttpResult<ErrorBody>> Get(string id, HttpContext context, ResponseStore store)
    {
        var info = RequestInfo.Of(context);
        return store.Get(id, "chat.completion") is { } r && info.CanSee(r.ApiKeyId)
            ? TypedResults.Text(r.BodyJson, "application/json")
            : OpenAIErrors.NotFound($"Chat completion with id '{id}' not found.");
    }

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, ConversationSessions sessions, ResponseStore store, StreamingOptions streaming, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("CodexApiServer.ChatCompletions");
        var (body, readError) = await RequestBody.ReadAsync(context.Request, ApiJsonContext.Wire.ChatCompletionRequest);
        if (readError is not null)
        {
            return readError;
        }
        ChatTurn turn;
        try
        {
            turn = ChatCompletionsParser.Parse(body!, router.DefaultModel);
        }
        catch (InputException e)
        {
            return e.ToApiError().ToResult(context);
        }
        var info = RequestInfo.Of(context);
        info.Model = turn.Model;
        var (route, routeError) = router.Resolve(turn.Model);
        if (route is null)
        {
            return routeError!.ToResult(context);
        }
        info.Provider = route.Model.Provider.ToString().ToLowerInvariant();

        // Continue a live session when this request extends a conversation we answered.
        var full = new TurnRequest(route.Model, turn.Instructions, turn.Conversation, turn.ReasoningEffort, turn.OutputSchema);
        var request = full;
        TurnRequest? replay = null;
        var lastAssistant = turn.Conversation.FindLastIndex(m => m.Role == "assistant");
        if (lastAssistant >= 0 && lastAssistant < turn.Conversation.Count - 1
            && sessions.Take(TurnInput.ConversationKey(turn.Model, turn.Instructions, turn.Conversation.Take(lastAssistant + 1)), route.Provider) is { } sessionId)
        {
            request = full with { Messages = turn.Conversation.Skip(lastAssistant + 1).ToList(), SessionId = sessionId };
            replay = full;
            LogSessionReused(logger, context.TraceIdentifier, sessionId);
        }

        var (lease, busy) = await router.AcquireAsync(route, request, context.RequestAborted);
        if (lease is null)
        {
            return busy!.ToResult(context);
        }
        await using var run = router.Start(route, request, replay, lease, context.RequestAborted);

        var id = "chatcmpl-" + TurnInput.NewId("")[..24];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var text = new StringBuilder();
        TurnCompleted? completed = null;
        TurnFailed? failed = null;
        var streamStarted = false;

        async Task WriteChunkAsync(ChatDelta delta, string? finish) =>
            await Sse.WriteAsync(context.Response, null,
                new ChatChunk(id, "chat.completion.chunk", created, turn.Model, [new ChatChunkChoice(0, delta, null, finish)]),
                ApiJsonContext.Wire.ChatChunk);

        async Task StartStreamAsync()
        {
            streamStarted = true;
            Sse.Start(context);
            await WriteChunkAsync(new ChatDelta("assistant", ""), null);
        }

        try
        {
            // Until the first event we may still answer with a plain HTTP error (not logged in, ...).
            var idle = turn.Stream ? streaming.KeepAliveInterval : Timeout.InfiniteTimeSpan;
            while (completed is null && failed is null)
            {
                var e = await run.NextAsync(idle);
                switch (e)
                {
                    case null when run.Cancelled:
                        break;
                    case null when !turn.Stream:
                        failed = new TurnFailed(new ProviderError(ProviderErrorKind.Crashed, "The provider ended the turn without an answer."));
                        break;
                    case null:
                        if (!streamStarted)
                        {
                            await StartStreamAsync();
                        }
                        else
                        {
                            await Sse.KeepAliveAsync(context.Response);
                        }
                        break;
                    case TextDelta delta:
                        text.Append(delta.Text);
                        if (turn.Stream)
                        {
                            if (!streamStarted)
                            {
                                await StartStreamAsync();
                            }
                            if (delta.Text.Length > 0)
                            {
                                await WriteChunkAsync(new ChatDelta(Content: delta.Text), null);
                            }
                        }
                        break;
                    case TurnCompleted done:
                        completed = done;
                        break;
                    case TurnFailed fail:
                        failed = fail;
                        break;
                }
                if (e is null && run.Cancelled)
                {
                    return Results.Empty;
                }
            }
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            return Results.Empty;
        }

        var usage = run.Usage ?? new TokenUsage(0, 0);
        info.InputTokens = usage.InputTokens;
        info.OutputTokens = usage.OutputTokens;
        info.CachedTokens = usage.CachedInputTokens;
        info.ReasoningTokens = usage.ReasoningTokens;
        var chatUsage = new ChatUsage(usage.InputTokens, usage.OutputTokens, usage.TotalTokens,
            new PromptTokensDetails(usage.CachedInputTokens), new CompletionTokensDetails(usage.ReasoningTokens));

        if (failed is not null)
        {
            if (run.Cancelled)
            {
                return Results.Empty;
            }
            var error = ProviderRouter.MapError(failed.Error);
            LogTurnFailed(logger, context.TraceIdentifier, failed.Error.Kind.ToString(), failed.Error.Message);
            if (!streamStarted)
            {
                return error.ToResult(context);
            }
            // Mid-stream: the SDKs throw on a data object with a top-level error.
            await TryAsync(() => Sse.WriteAsync(context.Response, null, new ErrorBody(error.Detail), ApiJsonContext.Wire.ErrorBody));
            return Results.Empty;
        }

        var finish = completed!.FinishReason == "length" ? "length" : "stop";
        var answer = text.ToString();
        if (completed.SessionId is { } nextSession)
        {
            var conversation = turn.Conversation.Append(new TurnMessage("assistant", [new TextPart(answer)]));
            sessions.Put(TurnInput.ConversationKey(turn.Model, turn.Instructions, conversation), route.Provider, nextSession);
        }
        var completion = new ChatCompletion(id, "chat.completion", created, turn.Model,
            [new ChatChoice(0, new ChatMessageOut("assistant", answer, null, []), null, finish)], chatUsage);
        if (turn.Store)
        {
            Store(store, completion, turn, info, route, completed.SessionId);
        }

        if (!turn.Stream)
        {
            return TypedResults.Json(completion, ApiJsonContext.Wire.ChatCompletion);
        }
        await TryAsync(async () =>
        {
            if (!streamStarted)
            {
                await StartStreamAsync();
            }
            await WriteChunkAsync(new ChatDelta(), finish);
            if (turn.IncludeUsage)
            {
                await Sse.WriteAsync(context.Response, null, new ChatChunk(id, "chat.completion.chunk", created, turn.Model, [], chatUsage), ApiJsonContext.Wire.ChatChunk);
            }
            await Sse.DoneAsync(context.Response);
        });
        return Results.Empty;
    }

    private static async Task TryAsync(Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client left; nothing more to tell it.
        }
    }

    private static void Store(ResponseStore store, ChatCompletion completion, ChatTurn turn, RequestInfo info, RoutedModel route, string? sessionId)
    {
        var input = new List<InputItem>();
        if (turn.Instructions is not null)
        {
            input.Add(TurnInput.ToItem(new TurnMessage("system", [new TextPart(turn.Instructions)])));
        }
        input.AddRange(turn.Conversation.Select(m => TurnInput.ToItem(m)));
        store.Save(new StoredResponse(completion.Id, "chat.completion", completion.Created, "completed", turn.Model, info.Provider ?? route.Model.Provider.ToString(),
            info.ApiKeyId, null, sessionId,
            JsonSerializer.Serialize(input, ApiJsonContext.Wire.ListInputItem),
            JsonSerializer.Serialize(completion, ApiJsonContext.Wire.ChatCompletion)));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{RequestId} continues session {SessionId}")]
    private static partial void LogSessionReused(ILogger logger, string requestId, string sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} turn failed: {Kind} {Reason}")]
    private static partial void LogTurnFailed(ILogger logger, string requestId, string kind, string reason);
}
