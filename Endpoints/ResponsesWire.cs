using System.Text.Json;
using System.Text.Json.Serialization;

namespace CodexApiServer.Endpoints;

// Request: the fields we act on or echo. The rest (include, truncation, ...) are accepted and ignored, once their type is checked.
public sealed record ResponsesRequest(
    string? Model,
    JsonElement Input,
    string? Instructions,
    string? PreviousResponseId,
    bool? Store,
    bool? Stream,
    bool? Background,
    JsonElement Text,
    JsonElement Reasoning,
    JsonElement Metadata,
    long? MaxOutputTokens,
    double? Temperature,
    double? TopP,
    string? User,
    bool? ParallelToolCalls,
    JsonElement ToolChoice,
    JsonElement Tools)
{
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Ignored { get; set; }
}

/// <summary>The Response object: every key the spec requires, always present.</summary>
public sealed record ResponseObject(
    string Id,
    string Object,
    long CreatedAt,
    string Status,
    bool Background,
    long? CompletedAt,
    ResponseError? Error,
    IncompleteDetails? IncompleteDetails,
    string? Instructions,
    long? MaxOutputTokens,
    string Model,
    IReadOnlyList<OutputItem> Output,
    string OutputText,
    bool ParallelToolCalls,
    string? PreviousResponseId,
    ReasoningConfig Reasoning,
    bool Store,
    double Temperature,
    TextConfig Text,
    JsonElement ToolChoice,
    IReadOnlyList<JsonElement> Tools,
    double TopP,
    string Truncation,
    string? User,
    IReadOnlyDictionary<string, string> Metadata,
    ResponseUsage? Usage);

/// <summary>An output item: a message (status, role, content), a reasoning summary (summary) or a function call (call_id, name, arguments, status).</summary>
public sealed record OutputItem(
    string Type,
    string Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Status = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<OutputText>? Content = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<SummaryText>? Summary = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? CallId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Arguments = null);

public sealed record SummaryText(string Type, string Text);

public sealed record OutputText(string Type, string Text, IReadOnlyList<JsonElement> Annotations, IReadOnlyList<JsonElement> Logprobs);

public sealed record ResponseError(string Code, string Message);

public sealed record IncompleteDetails(string Reason);

public sealed record ReasoningConfig(string? Effort, string? Summary);

public sealed record TextConfig(JsonElement Format);

public sealed record ResponseUsage(long InputTokens, InputTokensDetails InputTokensDetails, long OutputTokens, OutputTokensDetails OutputTokensDetails, long TotalTokens);

public sealed record InputTokensDetails(long CachedTokens);

public sealed record OutputTokensDetails(long ReasoningTokens);

// Stream events. Each carries its own type and a sequence number from 0.
public sealed record ResponseLifecycleEvent(string Type, ResponseObject Response, int SequenceNumber);

public sealed record OutputItemEvent(string Type, int OutputIndex, OutputItem Item, int SequenceNumber);

public sealed record ReasoningSummaryPartEvent(string Type, string ItemId, int OutputIndex, int SummaryIndex, SummaryText Part, int SequenceNumber);

public sealed record ReasoningSummaryTextDeltaEvent(string Type, string ItemId, int OutputIndex, int SummaryIndex, string Delta, int SequenceNumber);

public sealed record ReasoningSummaryTextDoneEvent(string Type, string ItemId, int OutputIndex, int SummaryIndex, string Text, int SequenceNumber);

public sealed record ContentPartEvent(string Type, string ItemId, int OutputIndex, int ContentIndex, OutputText Part, int SequenceNumber);

public sealed record OutputTextDeltaEvent(string Type, string ItemId, int OutputIndex, int ContentIndex, string Delta, IReadOnlyList<JsonElement> Logprobs, int SequenceNumber);

public sealed record OutputTextDoneEvent(string Type, string ItemId, int OutputIndex, int ContentIndex, string Text, IReadOnlyList<JsonElement> Logprobs, int SequenceNumber);

public sealed record FunctionCallArgumentsDeltaEvent(string Type, string ItemId, int OutputIndex, string Delta, int SequenceNumber);

public sealed record FunctionCallArgumentsDoneEvent(string Type, string ItemId, int OutputIndex, string Name, string Arguments, int SequenceNumber);

public sealed record StreamErrorEvent(string Type, string Code, string Message, string? Param, int SequenceNumber);

public sealed record ResponseList(string Object, IReadOnlyList<ResponseObject> Data, string? FirstId, string? LastId, bool HasMore);

public sealed record InputItemList(string Object, IReadOnlyList<InputItem> Data, string? FirstId, string? LastId, bool HasMore);
