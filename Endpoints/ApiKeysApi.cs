using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

public static class ApiKeysApi
{
    public static RouteGroupBuilder MapApiKeysApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/api-keys").RequireScope(RequiredScope.Admin);
        group.MapPost("/", Create).WithSummary("Create an API key; the key is in this answer only").Accepts<CreateApiKeyRequest>("application/json").Produces<ApiKeyObject>(201);
        group.MapGet("/", List).WithSummary("List API keys").Produces<ApiKeyList>();
        group.MapGet("/{id}", Get).WithSummary("One API key").Produces<ApiKeyObject>().Produces<ErrorBody>(404);
        group.MapDelete("/{id}", Delete).WithSummary("Delete an API key").Produces<DeletedObject>().Produces<ErrorBody>(404);
        group.MapPatch("/{id}", Update).WithSummary("Change name, scopes, expiry, limits, active")
            .Accepts<UpdateApiKeyRequest>("application/json").Produces<ApiKeyObject>().Produces<ErrorBody>(404);
        group.MapPost("/{id}/revoke", Revoke).WithSummary("Revoke an API key for good").Produces<ApiKeyObject>().Produces<ErrorBody>(404);
        group.MapGet("/{id}/usage", Usage).WithSummary("Requests and tokens of one key, per model (?since=unix seconds)").Produces<ApiKeyUsage>().Produces<ErrorBody>(404);
        return group;
    }

    private static async Task<Results<JsonHttpResult<ApiKeyObject>, JsonHttpResult<ErrorBody>>> Create(HttpRequest request, ApiKeyStore keys)
    {
        var (body, error) = await RequestBody.ReadAsync(request, ApiJsonContext.Wire.CreateApiKeyRequest);
        if (error is not null)
        {
            return error;
        }
        var name = string.IsNullOrWhiteSpace(body!.Name) ? "unnamed" : body.Name.Trim();
        if (name.Length > 100)
        {
            return OpenAIErrors.InvalidRequest("'name' must be at most 100 characters.", "name");
        }
        var scopes = body.Scopes ?? ["chat", "responses", "messages", "models"];
        if (Invalid(scopes, body.RequestsPerMinute, body.TokensPerDay) is { } invalid)
        {
            return invalid;
        }
        var (record, key) = keys.Create(name, scopes.Distinct().ToList(), body.ExpiresAt, body.RequestsPerMinute, body.TokensPerDay);
        return TypedResults.Json(ToObject(record) with { Key = key }, ApiJsonContext.Wire.ApiKeyObject, statusCode: StatusCodes.Status201Created);
    }

    private static JsonHttpResult<ApiKeyList> List(ApiKeyStore keys) =>
        TypedResults.Json(new ApiKeyList("list", keys.List().Select(ToObject).ToList()), ApiJsonContext.Wire.ApiKeyList);

    private static Results<JsonHttpResult<ApiKeyObject>, JsonHttpResult<ErrorBody>> Get(string id, ApiKeyStore keys) =>
        keys.Get(id) is { } record
            ? TypedResults.Json(ToObject(record), ApiJsonContext.Wire.ApiKeyObject)
            : OpenAIErrors.NotFound($"No API key with id '{id}'.");

    private static Results<JsonHttpResult<DeletedObject>, JsonHttpResult<ErrorBody>> Delete(string id, ApiKeyStore keys) =>
        keys.Delete(id)
            ? TypedResults.Json(new DeletedObject(id, "api_key", true), ApiJsonContext.Wire.DeletedObject)
            : OpenAIErrors.NotFound($"No API key with id '{id}'.");

    private static async Task<Results<JsonHttpResult<ApiKeyObject>, JsonHttpResult<ErrorBody>>> Update(string id, HttpRequest request, ApiKeyStore keys)
    {
        var (body, error) = await RequestBody.ReadAsync(request, ApiJsonContext.Wire.UpdateApiKeyRequest);
        if (error is not null)
        {
            return error;
        }
        if (body!.Name is { Length: 0 or > 100 })
        {
            return OpenAIErrors.InvalidRequest("'name' must be 1 to 100 characters.", "name");
        }
        // 0 clears a limit.
        if (Invalid(body.Scopes ?? [], body.RequestsPerMinute is 0 ? null : body.RequestsPerMinute, body.TokensPerDay is 0 ? null : body.TokensPerDay) is { } invalid)
        {
            return invalid;
        }
        if (body.Active == true && keys.Get(id) is { RevokedAt: not null })
        {
            // Revoking is for good: a leaked key must not come back by a PATCH.
            return OpenAIErrors.InvalidRequest("This API key was revoked and cannot be made active again; create a new key.", "active", "key_revoked");
        }
        var updated = keys.Update(id, body.Name?.Trim(), body.Scopes?.Distinct().ToList(), body.ExpiresAt, body.ClearExpiresAt == true,
            body.RequestsPerMinute, body.TokensPerDay, body.Active);
        return updated is null
            ? OpenAIErrors.NotFound($"No API key with id '{id}'.")
            : TypedResults.Json(ToObject(updated), ApiJsonContext.Wire.ApiKeyObject);
    }

    private static Results<JsonHttpResult<ApiKeyObject>, JsonHttpResult<ErrorBody>> Revoke(string id, ApiKeyStore keys, TimeProvider time) =>
        keys.Revoke(id, time.GetUtcNow().ToUnixTimeSeconds()) is { } revoked
            ? TypedResults.Json(ToObject(revoked), ApiJsonContext.Wire.ApiKeyObject)
            : OpenAIErrors.NotFound($"No API key with id '{id}'.");

    private static Results<JsonHttpResult<ApiKeyUsage>, JsonHttpResult<ErrorBody>> Usage(string id, long? since, ApiKeyStore keys, UsageLog usage)
    {
        if (keys.Get(id) is null)
        {
            return OpenAIErrors.NotFound($"No API key with id '{id}'.");
        }
        var from = since ?? 0;
        return TypedResults.Json(new ApiKeyUsage("api_key.usage", id, from, usage.TotalsByModel(id, from * 1000)), ApiJsonContext.Wire.ApiKeyUsage);
    }

    private static JsonHttpResult<ErrorBody>? Invalid(IReadOnlyList<string> scopes, int? requestsPerMinute, long? tokensPerDay)
    {
        if (scopes.FirstOrDefault(s => !ApiKeyStore.AllScopes.Contains(s)) is { } bad)
        {
            return OpenAIErrors.InvalidRequest($"Unknown scope '{bad}'; use {string.Join(", ", ApiKeyStore.AllScopes)}.", "scopes");
        }
        if (requestsPerMinute is <= 0)
        {
            return OpenAIErrors.InvalidRequest("'requests_per_minute' must be a positive number.", "requests_per_minute");
        }
        if (tokensPerDay is <= 0)
        {
            return OpenAIErrors.InvalidRequest("'tokens_per_day' must be a positive number.", "tokens_per_day");
        }
        return null;
    }

    private static ApiKeyObject ToObject(ApiKeyRecord r) =>
        new(r.Id, "api_key", r.Name, r.Prefix, r.Scopes, r.CreatedAt, r.ExpiresAt, r.LastUsedAt, r.RequestsPerMinute, r.TokensPerDay, r.Active, r.RevokedAt);
}
