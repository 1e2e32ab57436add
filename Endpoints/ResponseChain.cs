using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Storage;

namespace CodexApiServer.Endpoints;

/// <summary>The <c>previous_response_id</c> chain and item references: how stored responses become history again.</summary>
internal static class ResponseChain
{
    /// <summary>The conversation up to and including <paramref name="last"/>: each turn's input, then its answer.</summary>
    internal static List<TurnMessage> History(ResponseStore store, StoredResponse last)
    {
        var chain = new List<StoredResponse>();
        for (var r = last; r is not null && chain.Count < 1000; r = r.PreviousResponseId is { } id ? store.Get(id) : null)
        {
            chain.Add(r);
        }
        chain.Reverse();
        var messages = new List<TurnMessage>();
        foreach (var r in chain)
        {
            var items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
            foreach (var item in items)
            {
                try
                {
                    messages.Add(TurnInput.FromItem(item));
                }
                catch (InputException)
                {
                    // Stored by an earlier version in a form we no longer read; the rest of the history still helps.
                }
            }
            if (r.BodyJson.Length > 0 && JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body)
            {
                var answer = string.Concat(body.Output.Where(o => o.Type == "message").SelectMany(o => o.Content ?? []).Select(c => c.Text));
                var calls = body.Output.Where(o => o.Type == "function_call").Select(o => (TurnPart)new ToolCallPart(o.CallId ?? "", o.Name ?? "", o.Arguments ?? ""));
                List<TurnPart> parts = [.. answer.Length > 0 ? [new TextPart(answer)] : Array.Empty<TurnPart>(), .. calls];
                if (parts.Count > 0)
                {
                    messages.Add(new TurnMessage("assistant", parts));
                }
            }
        }
        return messages;
    }

    /// <summary>An item_reference: its id carries the id of the response that holds it (see <see cref="ResponseItemIds"/>).</summary>
    internal static TurnMessage? ResolveReference(ResponseStore store, RequestInfo info, string id, string path)
    {
        var stored = ResponseItemIds.ResponseIdOf(id) is { } responseId ? store.Get(responseId) : null;
        if (stored is not null && Visible(stored, info))
        {
            if (stored.BodyJson.Length > 0 && JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body
                && body.Output.FirstOrDefault(o => o.Id == id) is { } output)
            {
                return output.Type switch
                {
                    "message" => new TurnMessage(output.Role ?? "assistant", [new TextPart(string.Concat((output.Content ?? []).Select(c => c.Text)))]),
                    "function_call" => new TurnMessage("assistant", [new ToolCallPart(output.CallId ?? "", output.Name ?? "", output.Arguments ?? "")]),
                    _ => null, // a reasoning summary: the model's own notes, not conversation
                };
            }
            if ((JsonSerializer.Deserialize(stored.InputJson, ApiJsonContext.Wire.ListInputItem) ?? []).FirstOrDefault(i => i.Id == id) is { } input)
            {
                return TurnInput.FromItem(input);
            }
        }
        throw new InputException($"Item with id '{id}' not found.", path, "not_found");
    }

    internal static bool Visible(StoredResponse r, RequestInfo info) => info.CanSee(r.ApiKeyId);
}
