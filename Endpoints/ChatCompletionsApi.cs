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
        group.MapPost("/completions", Create)
            .WithSummary("Create a chat completion; streamed as server-sent events with \"stream\": true")
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces<ChatCompletion>()
            .Produces<ChatChunk>(200, "text/event-stream");
        group.MapGet("/completions/{id}", Get)
            .WithSummary("A stored chat completion")
            .Produces<ChatCompletion>()
            .Produces<ErrorBody>(404);
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

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, TurnDriver driver, ConversationSessions sessions, HeldTurns held, ResponseStore store, ILoggerFactory loggers)
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

        // The results of tool calls a held turn waits for: that turn goes on.
        var results = TurnInput.TrailingToolResults(turn.Conversation);
        var (resumed, missing) = results.Count > 0 ? held.Take(results, info.ApiKeyId) : (null, null);
        if (missing is not null)
        {
            return new ApiError(400, $"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {missing}",
                "invalid_request_error", "invalid_value", "messages").ToResult(context);
        }

        // Otherwise continue a live session when this request extends a conversation we answered.
        var full = new TurnRequest(route.Model, turn.Instructions, turn.Conversation, turn.ReasoningEffort, turn.OutputSchema,
            Tools: turn.Tools, ToolChoice: turn.ToolChoice, ParallelToolCalls: turn.ParallelToolCalls);
        var (request, replay) = resumed is null ? ConversationReuse.Continue(sessions, route, turn.Model, full) : (full, null);
        if (request.SessionId is { } sessionId)
        {
            LogSessionReused(logger, context.TraceIdentifier, sessionId);
        }

        var encoder = new ChatCompletionEncoder("chatcmpl-" + TurnInput.NewId("")[..24], DateTimeOffset.UtcNow.ToUnixTimeSeconds(), turn.Model, turn.IncludeUsage);
        void OnEnded(TurnEnded end)
        {
            if (encoder.Completion is not { } completion)
            {
                return;
            }
            if (end.SessionId is { } nextSession)
            {
                ConversationReuse.Remember(sessions, route, turn.Model, full, completion.Choices[0].Message.Content ?? "", nextSession);
            }
            if (turn.Store)
            {
                Store(store, completion, turn, info, route, end.SessionId, context.TraceIdentifier);
            }
        }
        var outcome = await driver.AnswerAsync(new TurnJob(route, request, replay, turn.Stream), resumed, results, info.ApiKeyId, encoder, context,
            context.RequestAborted, onEnded: OnEnded);
        return outcome switch
        {
            { Streamed: true } or { End.Reason: TurnEndReason.Cancelled } => Results.Empty,
            { Error: { } error } => error.ToResult(context),
            _ => TypedResults.Json(encoder.Completion!, ApiJsonContext.Wire.ChatCompletion),
        };
    }

    private static void Store(ResponseStore store, ChatCompletion completion, ChatTurn turn, RequestInfo info, RoutedModel route, string? sessionId, string requestId)
    {
        var messages = turn.Instructions is null ? turn.Conversation : [new TurnMessage("system", [new TextPart(turn.Instructions)]), .. turn.Conversation];
        var input = TurnInput.StoredItems(messages);
        store.Save(new StoredResponse(completion.Id, "chat.completion", completion.Created, "completed", turn.Model, info.Provider ?? route.Model.Provider.ToString(),
            info.ApiKeyId, null, sessionId,
            JsonSerializer.Serialize(input, ApiJsonContext.Wire.ListInputItem),
            JsonSerializer.Serialize(completion, ApiJsonContext.Wire.ChatCompletion), requestId));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{RequestId} continues session {SessionId}")]
    private static partial void LogSessionReused(ILogger logger, string requestId, string sessionId);
}
