using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>What the admin console reads and changes. Access control guards it (admin scope or master key).</summary>
public static class AdminApi
{
    // Keys whose new value only takes effect when the server starts again.
    private static readonly string[] RestartKeys = ["port", "host", "maxRequestBodyBytes", "maxConcurrentTurns", "mode", "agentWorkingDirectory"];

    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin").RequireScope(RequiredScope.Admin);
        group.MapGet("/config", GetConfig).WithSummary("The settings, without masterKey and tunnelToken").Produces<AdminConfigResponse>();
        group.MapPatch("/config", PatchConfig).WithSummary("Change settings: any keys of config.json; validated, saved, and says what needs a restart")
            .Accepts<ServerConfig>("application/json").Produces<AdminConfigResponse>();
        group.MapGet("/stats", Stats).WithSummary("Requests, errors and tokens per model, per key and per hour (?since=unix seconds)").Produces<AdminStats>();
        group.MapGet("/logs", Logs).WithSummary("Recent log lines (?limit, ?after)").Produces<AdminLogs>();
        group.MapDelete("/logs", ClearLogs).WithSummary("Clear the recent log lines");
        group.MapGet("/logs/stream", StreamLogs).WithSummary("Live log tail: each line a server-sent event").Produces<LogEntry>(200, "text/event-stream");
        group.MapGet("/master-key", RevealMasterKey).WithSummary("The master key, to a master-key caller or a local one without a key (never to an API key)").Produces<MasterKeyResponse>();
        group.MapPost("/master-key/regenerate", RegenerateMasterKey).WithSummary("A new master key; the old one stops working at once").Produces<MasterKeyResponse>();
        return group;
    }

    // Secrets never leave in the config: an admin key that could read the master key would keep master access after it is revoked.
    private static readonly string[] SecretKeys = ["masterKey", "tunnelToken"];

    private static JsonHttpResult<AdminConfigResponse> GetConfig(ServerSettings settings) => ConfigResult(settings.Config, [], settings);

    private static JsonHttpResult<AdminConfigResponse> ConfigResult(ServerConfig config, IReadOnlyList<string> restart, ServerSettings settings)
    {
        var json = ToJson(config);
        foreach (var secret in SecretKeys)
        {
            json.Remove(secret);
        }
        return TypedResults.Json(new AdminConfigResponse(json, restart, settings.ConfigPath, !string.IsNullOrEmpty(config.MasterKey), !string.IsNullOrEmpty(config.TunnelToken)),
            ApiJsonContext.Wire.AdminConfigResponse);
    }

    /// <summary>Merges the given keys into the config, validates the whole, and persists it.</summary>
    private static async Task<Results<JsonHttpResult<AdminConfigResponse>, JsonHttpResult<ErrorBody>>> PatchConfig(HttpRequest request, ServerSettings settings)
    {
        var (patch, error) = await RequestBody.ReadAsync(request, ApiJsonContext.Wire.JsonObject);
        if (error is not null)
        {
            return error;
        }
        if (patch!.ContainsKey("masterKey"))
        {
            return OpenAIErrors.InvalidRequest("masterKey cannot be set; use POST /admin/master-key/regenerate.", "masterKey");
        }
        var merged = ToJson(settings.Config);
        foreach (var (key, value) in patch)
        {
            merged[key] = value?.DeepClone();
        }
        ServerConfig next;
        try
        {
            next = merged.Deserialize(ConfigJsonContext.Default.ServerConfig)!;
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } p ? p[2..] : null;
            return OpenAIErrors.InvalidRequest($"Invalid value for '{field}'.", field, "invalid_type");
        }
        var problems = next.Validate();
        if (problems.Count > 0)
        {
            return OpenAIErrors.InvalidRequest(string.Join("; ", problems));
        }
        next.MasterKey = settings.Config.MasterKey;
        var before = ToJson(settings.Config);
        settings.Apply(next);
        var restart = RestartKeys.Where(k => patch.ContainsKey(k) && !JsonNode.DeepEquals(before[k], merged[k])).ToList();
        return ConfigResult(next, restart, settings);
    }

    private static JsonHttpResult<AdminStats> Stats(long? since, UsageLog usage, ApiKeyStore keys, TimeProvider time, UsageWindows windows)
    {
        var from = since ?? time.GetUtcNow().AddDays(-1).ToUnixTimeSeconds();
        var byModel = usage.TotalsByModel(null, from * 1000);
        var names = keys.List().ToDictionary(k => k.Id, k => k.Name);
        var byKey = usage.TotalsByKey(from * 1000).Select(k => k with { Name = k.ApiKeyId is { } id && names.TryGetValue(id, out var n) ? n : k.ApiKeyId is null ? "(no key)" : "(deleted)" }).ToList();
        return TypedResults.Json(new AdminStats(
            from,
            byModel.Sum(m => m.Requests),
            byModel.Sum(m => m.Errors),
            byModel.Sum(m => m.InputTokens),
            byModel.Sum(m => m.OutputTokens),
            byModel,
            byKey,
            usage.TotalsByHour(from * 1000),
            windows.Status()), ApiJsonContext.Wire.AdminStats);
    }

    private static JsonHttpResult<AdminLogs> Logs(int? limit, long? after, LogBuffer logs) =>
        TypedResults.Json(new AdminLogs("list", logs.Recent(Math.Clamp(limit ?? 200, 1, 2000), after ?? 0)), ApiJsonContext.Wire.AdminLogs);

    private static NoContent ClearLogs(LogBuffer logs)
    {
        logs.Clear();
        return TypedResults.NoContent();
    }

    /// <summary>Live tail: each new line as an SSE event with the line's id, and a keep-alive comment every 15 s.</summary>
    private static async Task StreamLogs(HttpContext context, LogBuffer logs)
    {
        var aborted = context.RequestAborted;
        var reader = logs.Subscribe(aborted);
        Sse.Start(context);
        await Sse.CommentAsync(context.Response, "connected");
        try
        {
            while (!aborted.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                wait.CancelAfter(TimeSpan.FromSeconds(15));
                LogEntry entry;
                try
                {
                    entry = await reader.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
                {
                    await Sse.KeepAliveAsync(context.Response);
                    continue;
                }
                await Sse.WriteAsync(context.Response, null, entry, ApiJsonContext.Wire.LogEntry, entry.Id.ToString(CultureInfo.InvariantCulture));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or System.Threading.Channels.ChannelClosedException or IOException)
        {
            // The viewer left.
        }
    }

    /// <summary>The master key, to whoever holds it already or sits at this machine; never to an API key, admin or not.</summary>
    private static Results<JsonHttpResult<MasterKeyResponse>, JsonHttpResult<ErrorBody>> RevealMasterKey(HttpContext context, ServerSettings settings) =>
        MasterKeyRefusal(context) ?? (Results<JsonHttpResult<MasterKeyResponse>, JsonHttpResult<ErrorBody>>)TypedResults.Json(new MasterKeyResponse(settings.Config.MasterKey!), ApiJsonContext.Wire.MasterKeyResponse);

    private static JsonHttpResult<ErrorBody>? MasterKeyRefusal(HttpContext context) =>
        Caller.Of(context) is { IsMaster: true } or { LocalWithoutAuth: true }
            ? null
            : OpenAIErrors.Result(StatusCodes.Status403Forbidden, "Only the master key, or a request from this machine, can see or change the master key; API keys cannot, whatever their scope.", "permission_error", "master_key_required");

    private static Results<JsonHttpResult<MasterKeyResponse>, JsonHttpResult<ErrorBody>> RegenerateMasterKey(HttpContext context, ServerSettings settings)
    {
        if (MasterKeyRefusal(context) is { } refused)
        {
            return refused;
        }
        var next = ToJson(settings.Config).Deserialize(ConfigJsonContext.Default.ServerConfig)!;
        next.MasterKey = ServerSettings.NewSecret("msk_");
        settings.Apply(next);
        return TypedResults.Json(new MasterKeyResponse(next.MasterKey), ApiJsonContext.Wire.MasterKeyResponse);
    }

    private static JsonObject ToJson(ServerConfig config) =>
        JsonSerializer.SerializeToNode(config, ConfigJsonContext.Default.ServerConfig)!.AsObject();
}
