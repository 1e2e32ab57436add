using System.Text.Json;
using System.Text.Json.Serialization;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Storage;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Endpoints;

/// <summary>Every type that crosses the wire, in OpenAI's snake_case. Nulls are written unless a type says otherwise.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(UsageWindowsStatus))]
[JsonSerializable(typeof(HealthSummary))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelObject))]
[JsonSerializable(typeof(CreateApiKeyRequest))]
[JsonSerializable(typeof(ApiKeyObject))]
[JsonSerializable(typeof(ApiKeyList))]
[JsonSerializable(typeof(UpdateApiKeyRequest))]
[JsonSerializable(typeof(ApiKeyUsage))]
[JsonSerializable(typeof(AdminConfigResponse))]
[JsonSerializable(typeof(AdminStats))]
[JsonSerializable(typeof(AdminLogs))]
[JsonSerializable(typeof(ConfigSchemaResponse))]
[JsonSerializable(typeof(ConfigErrorBody))]
[JsonSerializable(typeof(HistoryPage))]
[JsonSerializable(typeof(HistoryDetail))]
[JsonSerializable(typeof(SetupStatus))]
[JsonSerializable(typeof(LogEntry))]
[JsonSerializable(typeof(MasterKeyResponse))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
[JsonSerializable(typeof(DeletedObject))]
[JsonSerializable(typeof(CliStatus))]
[JsonSerializable(typeof(CliRefusal))]
[JsonSerializable(typeof(TunnelStatus))]
[JsonSerializable(typeof(TunnelStartRequest))]
[JsonSerializable(typeof(StorageStatus))]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatChunk))]
[JsonSerializable(typeof(MessagesRequest))]
[JsonSerializable(typeof(AnthropicMessage))]
[JsonSerializable(typeof(MessageStartEvent))]
[JsonSerializable(typeof(ContentBlockStartEvent))]
[JsonSerializable(typeof(ContentBlockDeltaEvent))]
[JsonSerializable(typeof(ContentBlockStopEvent))]
[JsonSerializable(typeof(MessageDeltaEvent))]
[JsonSerializable(typeof(MessageStopEvent))]
[JsonSerializable(typeof(TokenCount))]
[JsonSerializable(typeof(AnthropicErrorBody))]
[JsonSerializable(typeof(AnthropicModel))]
[JsonSerializable(typeof(AnthropicModelList))]
[JsonSerializable(typeof(FunctionCallArgumentsDeltaEvent))]
[JsonSerializable(typeof(FunctionCallArgumentsDoneEvent))]
[JsonSerializable(typeof(List<InputItem>))]
[JsonSerializable(typeof(ResponsesRequest))]
[JsonSerializable(typeof(ResponseObject))]
[JsonSerializable(typeof(ResponseLifecycleEvent))]
[JsonSerializable(typeof(OutputItemEvent))]
[JsonSerializable(typeof(ReasoningSummaryPartEvent))]
[JsonSerializable(typeof(ReasoningSummaryTextDeltaEvent))]
[JsonSerializable(typeof(ReasoningSummaryTextDoneEvent))]
[JsonSerializable(typeof(ContentPartEvent))]
[JsonSerializable(typeof(OutputTextDeltaEvent))]
[JsonSerializable(typeof(OutputTextDoneEvent))]
[JsonSerializable(typeof(StreamErrorEvent))]
[JsonSerializable(typeof(ResponseList))]
[JsonSerializable(typeof(InputItemList))]
public sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>Like <see cref="JsonSerializerContext"/>'s Default, but writes non-ASCII text as UTF-8 rather than \u escapes, as OpenAI does.</summary>
    public static ApiJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
