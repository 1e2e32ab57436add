using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// Turns the app-server notifications of one turn into provider events. No process and no I/O: the
/// only state is which agent messages arrived as deltas, so the whole message that follows them is
/// not passed on twice.
/// </summary>
internal sealed class CodexTurnDecoder(string threadId, string turnId)
{
    /// <summary>
    /// Retry notices after which the turn is given up: codex's own budget (5 stream retries of 5 requests each,
    /// ~25 s on a 5xx, measured with codex 0.169) cannot be set for its built-in `openai` provider (0.169 refuses
    /// `model_providers.openai`). By its first notice (~3 s in) it has already retried the request itself.
    /// </summary>
    public const int MaxRetryNotices = 1;

    private readonly HashSet<string> _itemsWithDeltas = new(StringComparer.Ordinal);
    private int _retryNotices;

    public CodexTurnUpdate Decode(JsonElement notification)
    {
        var method = CodexProtocol.Str(notification, "method");
        var p = CodexProtocol.Prop(notification, "params");
        if (CodexProtocol.Str(p, "turnId") is { } forTurn && forTurn != turnId)
        {
            return CodexTurnUpdate.None;
        }
        switch (method)
        {
            case "item/agentMessage/delta":
                if (CodexProtocol.Str(p, "delta") is { Length: > 0 } delta)
                {
                    if (CodexProtocol.Str(p, "itemId") is { } itemId)
                    {
                        _itemsWithDeltas.Add(itemId);
                    }
                    return new CodexTurnUpdate([new TextDelta(delta)]);
                }
                return CodexTurnUpdate.None;
            case "item/reasoning/summaryTextDelta" or "item/reasoning/textDelta":
                return CodexProtocol.Str(p, "delta") is { Length: > 0 } reasoning
                    ? new CodexTurnUpdate([new ReasoningDelta(reasoning)])
                    : CodexTurnUpdate.None;
            case "item/completed":
                {
                    var item = CodexProtocol.Prop(p, "item");
                    // A message that arrived whole, without deltas, still reaches the caller.
                    if (CodexProtocol.Str(item, "type") == "agentMessage"
                        && CodexProtocol.Str(item, "id") is { } id && !_itemsWithDeltas.Contains(id)
                        && CodexProtocol.Str(item, "text") is { Length: > 0 } whole)
                    {
                        return new CodexTurnUpdate([CliActivity.Instance, new TextDelta(whole)]);
                    }
                    return CodexProtocol.Str(item, "type") != "userMessage" ? CodexTurnUpdate.Activity : CodexTurnUpdate.None;
                }
            case "thread/tokenUsage/updated":
                return CodexProtocol.ReadUsage(p) is { } usage ? new CodexTurnUpdate([new UsageReport(usage)]) : CodexTurnUpdate.None;
            case "error":
                {
                    var turnError = CodexProtocol.Prop(p, "error");
                    var message = CodexProtocol.Str(turnError, "message") ?? "";
                    var willRetry = p.TryGetProperty("willRetry", out var wr) && wr.ValueKind == JsonValueKind.True;
                    // Codex would retry a refused credential for ~7 s; the answer will not change.
                    if (CodexProtocol.IsUnauthorized(turnError))
                    {
                        return new CodexTurnUpdate([CliActivity.Instance, TurnEnded.Failed(CodexProtocol.Classify(turnError))], CodexTurnOutcome.Refused, message, willRetry);
                    }
                    if (willRetry && ++_retryNotices >= MaxRetryNotices)
                    {
                        return new CodexTurnUpdate([CliActivity.Instance, TurnEnded.Failed(CodexProtocol.GaveUp(turnError))], CodexTurnOutcome.Refused, message, willRetry);
                    }
                    return new CodexTurnUpdate([CliActivity.Instance], CodexTurnOutcome.Running, message, willRetry);
                }
            case "turn/completed":
                {
                    var turn = CodexProtocol.Prop(p, "turn");
                    if (CodexProtocol.Str(turn, "id") is { } completedId && completedId != turnId)
                    {
                        return CodexTurnUpdate.None;
                    }
                    var status = CodexProtocol.Str(turn, "status");
                    if (status == "completed")
                    {
                        return new CodexTurnUpdate([new TurnEnded(TurnEndReason.Stop, threadId)], CodexTurnOutcome.Ended);
                    }
                    var turnError = CodexProtocol.Prop(turn, "error");
                    return new CodexTurnUpdate([TurnEnded.Failed(turnError.ValueKind == JsonValueKind.Object
                        ? CodexProtocol.Classify(turnError)
                        : new ProviderError(ProviderErrorKind.Upstream, $"the Codex turn ended as {status ?? "unknown"}"))], CodexTurnOutcome.Ended);
                }
            case "item/started" or "item/updated" when CodexProtocol.Str(CodexProtocol.Prop(p, "item"), "type") != "userMessage":
            case not null when method.EndsWith("Delta", StringComparison.Ordinal):
                // The model at work (a reasoning item begun, a command's output): not hung. turn/started and the
                // echo of our own message come before the upstream has answered, so they do not count.
                return CodexTurnUpdate.Activity;
            default:
                return CodexTurnUpdate.None;
        }
    }
}
