using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>The routes on stored responses: read, list, delete, cancel, and the input items of one.</summary>
public static class StoredResponsesApi
{
    /// <summary>Maps onto the /v1/responses group, after its POST.</summary>
    public static RouteGroupBuilder MapStoredResponses(this RouteGroupBuilder group)
    {
        group.MapGet("/", List).WithSummary("Stored responses (?limit, ?after, ?order)").Produces<ResponseList>();
        group.MapGet("/{id}", Get).WithSummary("One stored response").Produces<ResponseObject>().Produces<ErrorBody>(404);
        group.MapDelete("/{id}", Delete).WithSummary("Delete a stored response and the CLI's transcript of its conversation").Produces<DeletedObject>().Produces<ErrorBody>(404);
        group.MapGet("/{id}/input_items", InputItems).WithSummary("A response's input items (?limit, ?after, ?order)").Produces<InputItemList>().Produces<ErrorBody>(404);
        group.MapPost("/{id}/cancel", Cancel).WithSummary("Stop an in-flight or background response").Produces<ResponseObject>().Produces<ErrorBody>(404);
        return group;
    }

    private static ApiError NotFound(string id) => new(404, $"Response with id '{id}' not found.", "invalid_request_error", "not_found");

    private static Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>> Get(string id, HttpContext context, ResponseStore store) =>
        store.Get(id) is { } r && ResponseChain.Visible(r, RequestInfo.Of(context))
            ? TypedResults.Json(JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!, ApiJsonContext.Wire.ResponseObject)
            : NotFound(id).ToResult(context);

    private static async Task<Results<JsonHttpResult<DeletedObject>, JsonHttpResult<ErrorBody>>> Delete(string id, HttpContext context, ResponseStore store, ResponseRegistry registry, ProviderRouter router)
    {
        if (store.Get(id) is not { } r || !ResponseChain.Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        await registry.CancelAsync(id);
        store.Delete(id);
        // What was deleted must not live on in the CLI's own files.
        if (r.SessionId is { } session)
        {
            await router.DeleteSessionAsync(r.Provider, session);
        }
        return TypedResults.Json(new DeletedObject(id, "response", true), ApiJsonContext.Wire.DeletedObject);
    }

    private static async Task<Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>>> Cancel(string id, HttpContext context, ResponseStore store, ResponseRegistry registry)
    {
        var stored = store.Get(id);
        if (stored is not null && !ResponseChain.Visible(stored, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        if (await registry.CancelAsync(id) is { } cancelled)
        {
            return TypedResults.Json(cancelled, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored is null)
        {
            return NotFound(id).ToResult(context);
        }
        var body = JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject)!;
        if (stored.Status is "queued" or "in_progress")
        {
            // Left over from a server that stopped mid-turn: nothing runs it any more.
            body = body with { Status = "cancelled" };
            store.Save(stored with { Status = "cancelled", BodyJson = JsonSerializer.Serialize(body, ApiJsonContext.Wire.ResponseObject) });
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored.Status == "cancelled")
        {
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        return new ApiError(400, $"Cannot cancel a response with status '{stored.Status}'.", "invalid_request_error", "invalid_value").ToResult(context);
    }

    private static (int Limit, bool Ascending, ApiError? Error) Paging(HttpRequest request)
    {
        var limit = 20;
        if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l[0], out limit) || limit is < 1 or > 100))
        {
            return (0, false, new ApiError(400, "Invalid 'limit': expected an integer between 1 and 100.", "invalid_request_error", "invalid_value", "limit"));
        }
        var order = request.Query["order"] is { Count: > 0 } o ? o[0] : "desc";
        if (order is not ("asc" or "desc"))
        {
            return (0, false, new ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", "invalid_request_error", "invalid_value", "order"));
        }
        return (limit, order == "asc", null);
    }

    private static Results<JsonHttpResult<ResponseList>, JsonHttpResult<ErrorBody>> List(HttpContext context, ResponseStore store)
    {
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var info = RequestInfo.Of(context);
        StoredResponse? after = null;
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            after = store.Get(a[0]!);
            if (after is null || !ResponseChain.Visible(after, info))
            {
                return new ApiError(404, $"Response with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
        }
        var (rows, hasMore) = store.List(info.OwnerFilter, limit, after, ascending);
        var data = rows.Select(r => JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!).ToList();
        return TypedResults.Json(new ResponseList("list", data, data.FirstOrDefault()?.Id, data.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.ResponseList);
    }

    private static Results<JsonHttpResult<InputItemList>, JsonHttpResult<ErrorBody>> InputItems(string id, HttpContext context, ResponseStore store)
    {
        if (store.Get(id) is not { } r || !ResponseChain.Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        IEnumerable<InputItem> items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
        if (!ascending)
        {
            items = items.Reverse();
        }
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            var list = items.ToList();
            var index = list.FindIndex(i => i.Id == a[0]);
            if (index < 0)
            {
                return new ApiError(404, $"Input item with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
            items = list.Skip(index + 1);
        }
        var page = items.Take(limit + 1).ToList();
        var hasMore = page.Count > limit;
        page = page.Take(limit).ToList();
        return TypedResults.Json(new InputItemList("list", page, page.FirstOrDefault()?.Id, page.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.InputItemList);
    }
}
