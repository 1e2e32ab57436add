using System.Text.Json;
using System.Text.Json.Serialization;

namespace CodexApiServer.Endpoints;

// Request: the fields we act on. The rest (temperature, stop, ...) are accepted and ignored, once their type is checked.
public sealed record ChatCompletionRequest(
    string? Model,
    List<ChatMessageIn?>? Messages,
    bool? Stream,
    ChatStreamOptions? StreamOptions,
    int? N,
    string? ReasoningEffort,
    JsonElement ResponseFormat,
    bool? Store,
    JsonElement Tools,
    JsonElement ToolChoice,
    bool? ParallelToolCalls)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Ignored { get; set; }
}

public sealed record ChatMessageIn(string? Role, JsonElement Content, string? Name, string? ToolCallId, JsonElement ToolCalls);

public sealed record ChatStreamOptions(bool? IncludeUsage);

// Response
public sealed record ChatCompletion(string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices, ChatUsage Usage);

public sealed record ChatChoice(int Index, ChatMessageOut Message, JsonElement? Logprobs, string FinishReason);

/// <param name="ReasoningContent">The model's reasoning, where the CLI gives it: not OpenAI's field, but the one Open WebUI, LiteLLM and many agent clients read; absent when there is none.</param>
public sealed record ChatMessageOut(
    string Role,
    string? Content,
    string? Refusal,
    IReadOnlyList<JsonElement> Annotations,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ChatToolCall>? ToolCalls = null);

/// <summary>A call of a client tool in an answer: <c>arguments</c> is the JSON text the model wrote.</summary>
public sealed record ChatToolCall(string Id, string Type, ChatFunctionCall Function);

public sealed record ChatFunctionCall(string Name, string Arguments);

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
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ChatToolCallDelta>? ToolCalls = null);

/// <summary>
/// A piece of a streamed tool call: the first of each call carries index, id, type, the name and empty
/// arguments; later ones only the index and more arguments (repeating id or name makes clients concatenate them).
/// </summary>
public sealed record ChatToolCallDelta(
    int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Type,
    ChatFunctionDelta Function);

public sealed record ChatFunctionDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name,
    string Arguments);
