using System.Text.Json;
using System.Text.Json.Serialization;

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

/// <param name="ReasoningContent">The model's reasoning, where the CLI gives it: not OpenAI's field, but the one Open WebUI, LiteLLM and many agent clients read; absent when there is none.</param>
public sealed record ChatMessageOut(
    string Role,
    string? Content,
    string? Refusal,
    IReadOnlyList<JsonElement> Annotations,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent = null);

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
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReasoningContent = null);
