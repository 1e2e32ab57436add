using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// Gathers the client-tool calls of one model step in a turn, so they go to the client together. Checked with
/// codex 0.169: codex asks for each call (item/tool/call, a request to us) as soon as the model has written
/// it, before the model's response is over, and the next call comes while the first is unanswered; only
/// `rawResponse/completed` (a raw event) says the response is over. Its calls are the `function_call`
/// items of `rawResponseItem/completed` (which also carry the arguments exactly as the model wrote them),
/// so the step is whole once the response is over and each of those has been asked for. No I/O.
/// </summary>
/// <param name="toolNames">The client's tools the thread declared: a function_call of any other name is codex's own.</param>
internal sealed class CodexToolStep(string turnId, IReadOnlyCollection<string> toolNames)
{
    private readonly List<string> _expected = [];
    private readonly Dictionary<string, string> _rawArguments = new(StringComparer.Ordinal);
    private readonly List<PendingToolCall> _asked = [];
    private bool _responseOver;

    /// <summary>Notes a notification: a function_call item of the model's, or the end of its response.</summary>
    public void Observe(JsonElement notification)
    {
        var p = CodexProtocol.Prop(notification, "params");
        if (CodexProtocol.Str(p, "turnId") is { } forTurn && forTurn != turnId)
        {
            return;
        }
        switch (CodexProtocol.Str(notification, "method"))
        {
            case "rawResponseItem/completed":
                var item = CodexProtocol.Prop(p, "item");
                if (CodexProtocol.Str(item, "type") == "function_call"
                    && CodexProtocol.Str(item, "name") is { } name && toolNames.Contains(name)
                    && CodexProtocol.Str(item, "call_id") is { } callId)
                {
                    _expected.Add(callId);
                    if (CodexProtocol.Str(item, "arguments") is { } raw)
                    {
                        _rawArguments[callId] = raw;
                    }
                }
                break;
            case "rawResponse/completed":
                _responseOver = true;
                break;
        }
    }

    /// <summary>Notes codex's request for one call (item/tool/call); <paramref name="requestId"/> is what the answer must carry.</summary>
    public void Ask(JsonElement requestId, JsonElement request)
    {
        var p = CodexProtocol.Prop(request, "params");
        var callId = CodexProtocol.Str(p, "callId") ?? "";
        var arguments = _rawArguments.TryGetValue(callId, out var raw) ? raw
            : CodexProtocol.Prop(p, "arguments") is { ValueKind: not JsonValueKind.Undefined } value
                ? (value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText())
                : "{}";
        _asked.Add(new PendingToolCall(requestId, callId, new ToolCall(ToolCall.NewId(), CodexProtocol.Str(p, "tool") ?? "", arguments)));
    }

    /// <summary>
    /// The step's calls, in the model's order, once the response is over and codex asked for each; null
    /// until then. Starts the next step.
    /// </summary>
    public IReadOnlyList<PendingToolCall>? TakeStep()
    {
        if (!_responseOver)
        {
            return null;
        }
        if (_asked.Count == 0 && _expected.Count == 0)
        {
            // A response without calls (text, or reasoning before more): the next one is a new step.
            _responseOver = false;
            return null;
        }
        if (_expected.Any(id => !_asked.Any(a => a.CodexCallId == id)))
        {
            return null;
        }
        var step = _asked.OrderBy(a => _expected.IndexOf(a.CodexCallId) is var i and >= 0 ? i : int.MaxValue).ToList();
        _asked.Clear();
        _expected.Clear();
        _rawArguments.Clear();
        _responseOver = false;
        return step;
    }

    /// <summary>The answer to item/tool/call: the client's output as text; a failure is said in the text too, since codex tells the model only the text.</summary>
    public static void WriteAnswer(Utf8JsonWriter w, ToolResult result)
    {
        w.WriteStartArray("contentItems");
        w.WriteStartObject();
        w.WriteString("type", "inputText");
        w.WriteString("text", CodexHistory.OutputText(result.Output, result.IsError));
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteBoolean("success", !result.IsError);
    }
}

/// <summary>A call codex asked us for and waits on.</summary>
/// <param name="RequestId">The id of codex's item/tool/call request.</param>
/// <param name="CodexCallId">Codex's (the model's) call id; <see cref="ToolCall.Id"/> is ours.</param>
internal sealed record PendingToolCall(JsonElement RequestId, string CodexCallId, ToolCall Call);
