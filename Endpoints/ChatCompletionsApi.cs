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

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, TurnDriver driver, ConversationSessions sessions, ResponseStore store, ILoggerFactory loggers)
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
            return ProviderErrors.ToApiError(routeError!).ToResult(context);
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

        var encoder = new ChatCompletionEncoder("chatcmpl-" + TurnInput.NewId("")[..24], DateTimeOffset.UtcNow.ToUnixTimeSeconds(), turn.Model, turn.IncludeUsage);
        var outcome = await driver.RunAsync(new TurnJob(route, request, replay, turn.Stream), encoder, context, context.RequestAborted,
            onEnded: end =>
            {
                if (encoder.Completion is not { } completion)
                {
                    return;
                }
                if (end.SessionId is { } nextSession)
                {
                    var conversation = turn.Conversation.Append(new TurnMessage("assistant", [new TextPart(completion.Choices[0].Message.Content ?? "")]));
                    sessions.Put(TurnInput.ConversationKey(turn.Model, turn.Instructions, conversation), route.Provider, nextSession);
                }
                if (turn.Store)
                {
                    Store(store, completion, turn, info, route, end.SessionId);
                }
            });
        return outcome switch
        {
            { Streamed: true } or { End.Reason: TurnEndReason.Cancelled } => Results.Empty,
            { Error: { } error } => error.ToResult(context),
            _ => TypedResults.Json(encoder.Completion!, ApiJsonContext.Wire.ChatCompletion),
        };
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
}
