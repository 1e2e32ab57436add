using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;

namespace CodexApiServer.Endpoints;

/// <summary>
/// Anthropic's Messages API, for the Anthropic SDKs, Anthropic-speaking tools and Claude Code itself
/// (ANTHROPIC_BASE_URL): any model routes as on the OpenAI side, tools go through the held turn as
/// they do for chat completions, and errors come in Anthropic's shape (<see cref="AnthropicErrors"/>).
/// </summary>
public static partial class MessagesApi
{
    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder routes)
    {
        // anthropic-version and anthropic-beta headers and ?beta=true are accepted: nothing here depends on them.
        var group = routes.MapGroup("/v1/messages").RequireScope(RequiredScope.Messages).WithMetadata(new ErrorShape(typeof(AnthropicErrorBody)));
        group.MapPost("/", Create)
            .WithSummary("Anthropic's Messages API; streamed as server-sent events with \"stream\": true")
            .Accepts<MessagesRequest>("application/json")
            .Produces<AnthropicMessage>()
            .Produces<MessageStartEvent>(200, "text/event-stream");
        group.MapPost("/count_tokens", CountTokens)
            .WithSummary("An estimate of a request's input tokens (a token per 4 bytes, 1,600 per image)")
            .Accepts<MessagesRequest>("application/json")
            .Produces<TokenCount>();
        return routes;
    }

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, TurnDriver driver, ConversationSessions sessions, HeldTurns held, ResponseStore store, ILoggerFactory loggers)
    {
        var (turn, error) = await ReadAsync(context, router, requireMaxTokens: true);
        if (turn is null)
        {
            return error!;
        }
        var info = RequestInfo.Of(context);
        info.Model = turn.Model;
        var (route, routeError) = router.Resolve(turn.Model);
        if (route is null)
        {
            return ProviderErrors.ToApiError(routeError!).ToAnthropicResult(context);
        }
        info.Provider = route.Model.Provider.ToString().ToLowerInvariant();

        // The tool results a held turn waits for: that turn goes on.
        var (resumed, missing) = turn.Results.Count > 0 ? held.Take(turn.Results, info.ApiKeyId) : (null, null);
        if (missing is not null)
        {
            return AnthropicErrors.Result(400, $"messages: tool_use ids were found without tool_result blocks immediately after: {missing}. Each tool_use block must have a corresponding tool_result block in the next message.");
        }
        var full = new TurnRequest(route.Model, turn.Instructions, turn.Conversation, turn.ReasoningEffort,
            Tools: turn.Tools, ToolChoice: turn.ToolChoice, ParallelToolCalls: turn.ParallelToolCalls);
        var (request, replay) = resumed is null ? ConversationReuse.Continue(sessions, route, turn.Model, full) : (full, null);
        if (request.SessionId is { } sessionId)
        {
            LogSessionReused(loggers.CreateLogger("CodexApiServer.Messages"), context.TraceIdentifier, sessionId);
        }

        var id = "msg_" + TurnInput.NewId("")[..24];
        var encoder = new MessageEncoder(id, turn.Model, TokenEstimate.Of(turn.Instructions, turn.Conversation, turn.Tools));
        void OnEnded(TurnEnded end)
        {
            if (encoder.Message is not { } message)
            {
                return;
            }
            if (end.SessionId is { } nextSession)
            {
                ConversationReuse.Remember(sessions, route, turn.Model, full, string.Concat(message.Content.Where(b => b.Type == "text").Select(b => b.Text)), nextSession);
            }
            store.Save(new StoredResponse(id, "message", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "completed", turn.Model, info.Provider ?? "",
                info.ApiKeyId, null, end.SessionId,
                JsonSerializer.Serialize(TurnInput.StoredItems(turn.Conversation), ApiJsonContext.Wire.ListInputItem),
                JsonSerializer.Serialize(message, ApiJsonContext.Wire.AnthropicMessage), context.TraceIdentifier));
        }
        var outcome = await driver.AnswerAsync(new TurnJob(route, request, replay, turn.Stream), resumed, turn.Results, info.ApiKeyId, encoder, context,
            context.RequestAborted, onEnded: OnEnded);
        return outcome switch
        {
            { Streamed: true } or { End.Reason: TurnEndReason.Cancelled } => Results.Empty,
            { Error: { } failure } => failure.ToAnthropicResult(context),
            _ => TypedResults.Json(encoder.Message!, ApiJsonContext.Wire.AnthropicMessage),
        };
    }

    /// <summary>{input_tokens}: an estimate (<see cref="TokenEstimate"/>); neither CLI counts without running a turn.</summary>
    private static async Task<IResult> CountTokens(HttpContext context, ProviderRouter router)
    {
        var (turn, error) = await ReadAsync(context, router, requireMaxTokens: false);
        return turn is null ? error! : TypedResults.Json(new TokenCount(TokenEstimate.Of(turn.Instructions, turn.Conversation, turn.Tools)), ApiJsonContext.Wire.TokenCount);
    }

    private static async Task<(MessagesTurn? Turn, IResult? Error)> ReadAsync(HttpContext context, ProviderRouter router, bool requireMaxTokens)
    {
        var (body, readError) = await RequestBody.ReadAsync(context.Request, ApiJsonContext.Wire.MessagesRequest);
        if (readError is not null)
        {
            return (null, AnthropicErrors.From(readError));
        }
        try
        {
            return (MessagesParser.Parse(body!, router.DefaultModel, requireMaxTokens), null);
        }
        catch (InputException e)
        {
            return (null, e.ToApiError().ToAnthropicResult(context));
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{RequestId} continues session {SessionId}")]
    private static partial void LogSessionReused(ILogger logger, string requestId, string sessionId);
}
