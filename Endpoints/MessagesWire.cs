using System.Text.Json;
using System.Text.Json.Serialization;

namespace CodexApiServer.Endpoints;

// Anthropic's Messages API (POST /v1/messages): the request fields we act on or check, and the reply
// and stream events in the shape the Anthropic SDKs and Claude Code read.

public sealed record MessagesRequest(
    string? Model,
    long? MaxTokens,
    JsonElement Messages,
    JsonElement System,
    bool? Stream,
    JsonElement Tools,
    JsonElement ToolChoice,
    JsonElement Thinking,
    JsonElement Metadata,
    JsonElement StopSequences,
    double? Temperature,
    double? TopP,
    long? TopK)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Ignored { get; set; }
}

/// <summary>A reply message; in a stream, message_start carries it with no content yet.</summary>
public sealed record AnthropicMessage(
    string Id,
    string Type,
    string Role,
    string Model,
    IReadOnlyList<ContentBlock> Content,
    string? StopReason,
    string? StopSequence,
    AnthropicUsage Usage);

/// <summary>A content block: text (text), thinking (thinking, signature) or tool_use (id, name, input).</summary>
public sealed record ContentBlock(
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Thinking = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Signature = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Input = null);

/// <summary>Token counts the Anthropic way: input_tokens without the cached part, which is counted apart.</summary>
public sealed record AnthropicUsage(long InputTokens, long OutputTokens, long CacheCreationInputTokens, long CacheReadInputTokens);

public sealed record MessageStartEvent(string Type, AnthropicMessage Message);

public sealed record ContentBlockStartEvent(string Type, int Index, ContentBlock ContentBlock);

public sealed record ContentBlockDeltaEvent(string Type, int Index, BlockDelta Delta);

public sealed record BlockDelta(
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Thinking = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Signature = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? PartialJson = null);

public sealed record ContentBlockStopEvent(string Type, int Index);

public sealed record MessageDeltaEvent(string Type, MessageDeltaBody Delta, AnthropicUsage Usage);

public sealed record MessageDeltaBody(string? StopReason, string? StopSequence);

public sealed record MessageStopEvent(string Type);

public sealed record TokenCount(long InputTokens);

public sealed record AnthropicErrorBody(string Type, AnthropicErrorDetail Error);

public sealed record AnthropicErrorDetail(string Type, string Message);

public sealed record AnthropicModel(string Type, string Id, string DisplayName, string CreatedAt);

public sealed record AnthropicModelList(IReadOnlyList<AnthropicModel> Data, bool HasMore, string? FirstId, string? LastId);
