using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>
/// The console's history: stored responses and chat completions of every key, filtered, newest
/// first, paged by a cursor; one in detail with its chain of previous_response_id; delete one.
/// </summary>
public static class AdminHistoryApi
{
    private const int MaxChain = 50;

    public static RouteGroupBuilder MapAdminHistory(this RouteGroupBuilder admin)
    {
        admin.MapGet("/history", List)
            .WithSummary("Stored responses and chat completions, newest first (?model, ?key, ?status, ?q, ?type, ?limit, ?after)").Produces<HistoryPage>();
        admin.MapGet("/history/{id}", Get).WithSummary("One stored response or chat completion: input, output, usage, key, previous_response_id chain").Produces<HistoryDetail>();
        admin.MapDelete("/history/{id}", Delete).WithSummary("Delete one stored response or chat completion (and its CLI session)").Produces<DeletedObject>();
        return admin;
    }

    private static Results<JsonHttpResult<HistoryPage>, JsonHttpResult<ErrorBody>> List(
        string? @object, string? model, string? key, string? status, string? q, string? before, int? limit, ResponseStore store, ApiKeyStore keys, UsageLog usage)
    {
        if (limit is < 1 or > 200)
        {
            return OpenAIErrors.InvalidRequest("'limit' must be between 1 and 200.", "limit");
        }
        if (@object is not (null or "" or "response" or "chat.completion"))
        {
            return OpenAIErrors.InvalidRequest("'object' must be 'response' or 'chat.completion'.", "object");
        }
        (long, string)? cursor = null;
        if (!string.IsNullOrEmpty(before))
        {
            // "created_at:id" of the last row of the page before, as next_before gave it.
            var colon = before.IndexOf(':', StringComparison.Ordinal);
            if (colon < 1 || !long.TryParse(before[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var created))
            {
                return OpenAIErrors.InvalidRequest("'before' is not a cursor from next_before.", "before");
            }
            cursor = (created, before[(colon + 1)..]);
        }
        var filter = new HistoryFilter(Empty(@object), Empty(model), Empty(key), Empty(status), Empty(q));
        var (rows, hasMore) = store.Search(filter, limit ?? 50, cursor);
        var names = keys.List().ToDictionary(k => k.Id, k => k.Name);
        var latency = usage.LatencyOf([.. rows.Select(r => r.RequestId).OfType<string>()]);
        var data = rows.Select(r => Summary(r, names, latency)).ToList();
        var next = hasMore ? $"{rows[^1].CreatedAt.ToString(CultureInfo.InvariantCulture)}:{rows[^1].Id}" : null;
        return TypedResults.Json(new HistoryPage("list", data, hasMore, next), ApiJsonContext.Wire.HistoryPage);
    }

    private static Results<JsonHttpResult<HistoryDetail>, JsonHttpResult<ErrorBody>> Get(string id, ResponseStore store, ApiKeyStore keys, UsageLog usage)
    {
        if (store.Find(id) is not { } row)
        {
            return OpenAIErrors.NotFound($"Nothing stored with id '{id}'.");
        }
        var names = keys.List().ToDictionary(k => k.Id, k => k.Name);
        // Oldest first: the turns this one continues, as far back as they are still stored.
        var chain = new List<StoredResponse>();
        for (var previous = row.PreviousResponseId; previous is not null && chain.Count < MaxChain;)
        {
            if (store.Find(previous) is not { } earlier)
            {
                break;
            }
            chain.Insert(0, earlier);
            previous = earlier.PreviousResponseId;
        }
        var latency = usage.LatencyOf([.. chain.Append(row).Select(r => r.RequestId).OfType<string>()]);
        return TypedResults.Json(new HistoryDetail(Summary(row, names, latency), JsonNode.Parse(row.InputJson), JsonNode.Parse(row.BodyJson)!.AsObject(),
            [.. chain.Select(r => Summary(r, names, latency))], store.Continuations(id)), ApiJsonContext.Wire.HistoryDetail);
    }

    private static async Task<Results<JsonHttpResult<DeletedObject>, JsonHttpResult<ErrorBody>>> Delete(string id, ResponseStore store, ResponseRegistry registry, ProviderRouter router)
    {
        if (store.Find(id) is not { } row)
        {
            return OpenAIErrors.NotFound($"Nothing stored with id '{id}'.");
        }
        if (row.Object == "response")
        {
            await registry.CancelAsync(id);
        }
        store.Delete(id, row.Object);
        // What was deleted must not live on in the CLI's own files.
        if (row.SessionId is { } session)
        {
            await router.DeleteSessionAsync(row.Provider, session);
        }
        return TypedResults.Json(new DeletedObject(id, row.Object, true), ApiJsonContext.Wire.DeletedObject);
    }

    private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static HistorySummary Summary(StoredResponse r, Dictionary<string, string> names, Dictionary<string, long> latency)
    {
        var body = JsonNode.Parse(r.BodyJson);
        var (text, usage, completed) = r.Object == "response"
            ? ((string?)body?["output_text"], body?["usage"], (long?)body?["completed_at"])
            : ((string?)body?["choices"]?[0]?["message"]?["content"], body?["usage"], null);
        // The request's own latency from its usage row; a background response (or a row from before
        // request ids were kept) has only its created and completed seconds.
        long? latencyMs = r.RequestId is { } request && latency.TryGetValue(request, out var ms) ? ms : completed is { } c ? (c - r.CreatedAt) * 1000 : null;
        long? Tokens(string a, string b) => usage?[a] is JsonValue v ? (long)v : usage?[b] is JsonValue w ? (long)w : null;
        return new HistorySummary(r.Id, r.Object, r.CreatedAt, r.Status, r.Model, r.Provider, r.ApiKeyId,
            r.ApiKeyId is null ? null : names.GetValueOrDefault(r.ApiKeyId, "(deleted key)"),
            r.PreviousResponseId, Preview(text), Tokens("input_tokens", "prompt_tokens"), Tokens("output_tokens", "completion_tokens"), latencyMs);
    }

    private static string? Preview(string? text) => text is null ? null : text.Length <= 160 ? text : text[..160] + "…";
}

/// <param name="LatencyMs">The request's latency (its usage row); for a background response, from created to completed.</param>
public sealed record HistorySummary(string Id, string Object, long CreatedAt, string Status, string Model, string Provider,
    string? ApiKeyId, string? ApiKeyName, string? PreviousResponseId, string? Preview, long? InputTokens, long? OutputTokens, long? LatencyMs);

/// <param name="NextBefore">Pass as <c>before</c> for the next (older) page; null on the last.</param>
public sealed record HistoryPage(string Object, IReadOnlyList<HistorySummary> Data, bool HasMore, string? NextBefore);

/// <param name="Chain">The earlier turns this one continues, oldest first.</param>
/// <param name="ContinuedBy">Ids of the responses that continue this one.</param>
public sealed record HistoryDetail(HistorySummary Summary, JsonNode? Input, JsonObject Body, IReadOnlyList<HistorySummary> Chain, IReadOnlyList<string> ContinuedBy);
