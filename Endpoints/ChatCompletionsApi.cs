using System.Text.Json;
using System.Text.Json.Serialization;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

// Request: the fields we act on. The rest (temperature, tools, stop, ...) are accepted and ignored, once their type is checked.
public sealed record ChatCompletionRequest(
    string? Model,
    List<ChatMessageIn?>? Messages,
    bool? Stream,
    ChatStreamOptions? StreamOptions,
    int? N,
    string? ReasoningEffort,
    JsonElement ResponseFormat,
    bool? Store)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Ignored { get; set; }
}

public sealed record ChatMessageIn(string? Role, JsonElement Content, string? Name, string? ToolCallId, JsonElement ToolCalls);

public sealed record ChatStreamOptions(bool? IncludeUsage);

// Response
public sealed record ChatCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices, ChatUsage Usage);

public sealed record ChatChoice(int Index, ChatMessageOut Message, JsonElement? Logprobs, string FinishReason);

public sealed record ChatMessageOut(string Role, string? Content, string? Refusal, IReadOnlyList<JsonElement> Annotations);

public sealed record ChatUsage(long PromptTokens, long CompletionTokens, long TotalTokens, PromptTokensDetails PromptTokensDetails, CompletionTokensDetails CompletionTokensDetails);

public sealed record PromptTokensDetails(long CachedTokens);

public sealed record CompletionTokensDetails(long ReasoningTokens);

public sealed record ChatChunk(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ChatUsage? Usage = null);

public sealed record ChatChunkChoice(int Index, ChatDelta Delta, JsonElement? Logprobs, string? FinishReason);

public sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null);

public static partial class ChatCompletionsApi
{
    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool", "function"];

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

    /// <summary>The parsed request: what goes to the provider and what decides the reply.</summary>
    private sealed record ChatTurn(string Model, string? Instructions, List<TurnMessage> Conversation, string? ReasoningEffort, JsonElement? OutputSchema, bool Stream, bool IncludeUsage, bool Store);

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
            turn = Parse(body!, router.DefaultModel);
        }
        catch (InputException e)
        {
            return e.ToApiError().ToResult(context);
        }
        var info = RequestInfo.Of(context);
        info.Model = turn.Model;
        if (ModelCheck.Error(turn.Model) is { } modelError)
        {
            return modelError.ToResult(context);
        }
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

    /// <param name="defaultModel">For a request without a model: the original product documents <c>model</c> as optional.</param>
    private static ChatTurn Parse(ChatCompletionRequest body, string defaultModel)
    {
        body = body with { Model = string.IsNullOrEmpty(body.Model) ? defaultModel : body.Model };
        if (body.Messages is null)
        {
            throw new InputException("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (body.Messages.Count == 0)
        {
            throw new InputException("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array");
        }
        TurnInput.CheckIgnoredFields(body.Ignored);
        if (body.N is { } n && n != 1)
        {
            throw new InputException(n < 1 ? "Invalid 'n': must be at least 1." : "Invalid 'n': this server returns one choice per request; use n=1.", "n");
        }
        var effort = TurnInput.ReasoningEffort(body.ReasoningEffort, "reasoning_effort");
        var schema = TurnInput.OutputSchema(body.ResponseFormat, "response_format", flat: false);

        var instructions = new List<string>();
        var conversation = new List<TurnMessage>();
        for (var i = 0; i < body.Messages.Count; i++)
        {
            var message = ParseMessage(body.Messages[i], $"messages[{i}]");
            // Leading system/developer messages are the instructions; later ones stay in place.
            if (conversation.Count == 0 && message.Role is "system" or "developer")
            {
                instructions.Add(string.Concat(message.Parts.OfType<TextPart>().Select(p => p.Text)));
            }
            else
            {
                conversation.Add(message);
            }
        }
        if (conversation.Count == 0)
        {
            throw new InputException("Invalid 'messages': at least one message besides system/developer messages is required.", "messages");
        }
        return new ChatTurn(body.Model, instructions.Count > 0 ? string.Join("\n\n", instructions) : null, conversation, effort, schema,
            body.Stream == true, body.StreamOptions?.IncludeUsage == true, body.Store != false);
    }

    private static TurnMessage ParseMessage(ChatMessageIn? message, string path)
    {
        if (message is null)
        {
            throw new InputException($"Invalid type for '{path}': expected an object, but got null instead.", path, "invalid_type");
        }
        if (message.Role is null)
        {
            throw new InputException($"Missing required parameter: '{path}.role'.", path + ".role", "missing_required_parameter");
        }
        if (!Roles.Contains(message.Role))
        {
            throw new InputException($"Invalid value: '{message.Role}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function' and 'developer'.", path + ".role");
        }
        var role = message.Role == "function" ? "tool" : message.Role;
        var parts = new List<TurnPart>();
        var content = message.Content;
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                parts.Add(new TextPart(content.GetString()!));
                break;
            case JsonValueKind.Array:
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    parts.Add(ParsePart(part, $"{path}.content[{j}]"));
                    j++;
                }
                break;
            case JsonValueKind.Null or JsonValueKind.Undefined when role == "assistant":
                break;
            case JsonValueKind.Null or JsonValueKind.Undefined:
                throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter");
            default:
                throw new InputException($"Invalid type for '{path}.content': expected one of a string or array of objects.", path + ".content", "invalid_type");
        }
        // The contract has no tool-call events: earlier calls and their results travel as text so the history stays whole.
        if (role == "assistant" && message.ToolCalls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in message.ToolCalls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    var name = function.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : "?";
                    var arguments = function.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : "";
                    parts.Add(new TextPart($"[called tool {name} with arguments {arguments}]"));
                }
            }
        }
        if (role == "tool" && message.ToolCallId is { } callId && parts.Count > 0 && parts[0] is TextPart first)
        {
            parts[0] = new TextPart($"[result of tool call {callId}] {first.Text}");
        }
        return new TurnMessage(role, parts);
    }

    private static TurnPart ParsePart(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an object.", path, "invalid_type");
        }
        var type = part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "text":
                return part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                    ? new TextPart(text.GetString()!)
                    : throw new InputException($"Missing required parameter: '{path}.text'.", path + ".text", "missing_required_parameter");
            case "image_url":
                if (!part.TryGetProperty("image_url", out var image))
                {
                    throw new InputException($"Missing required parameter: '{path}.image_url'.", path + ".image_url", "missing_required_parameter");
                }
                var url = image.ValueKind switch
                {
                    JsonValueKind.String => image.GetString(),
                    JsonValueKind.Object when image.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String => u.GetString(),
                    _ => null,
                };
                return TurnInput.Image(url, path + ".image_url.url");
            case "input_audio" or "file":
                throw new InputException($"Content parts of type '{type}' are not supported by this server; send text or images.", path + ".type");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'text' and 'image_url'.", path + ".type");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{RequestId} continues session {SessionId}")]
    private static partial void LogSessionReused(ILogger logger, string requestId, string sessionId);
}
