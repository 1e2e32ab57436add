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
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin").RequireScope(RequiredScope.Admin);
        group.MapGet("/config", GetConfig).WithSummary("The settings, without masterKey and tunnelToken").Produces<AdminConfigResponse>();
        group.MapGet("/config/schema", () => TypedResults.Json(new ConfigSchemaResponse("list", ConfigSchema.Fields), ApiJsonContext.Wire.ConfigSchemaResponse))
            .WithSummary("Every config key: type, default, meaning, whether a change needs a restart").Produces<ConfigSchemaResponse>();
        group.MapPatch("/config", PatchConfig).WithSummary("Change settings: any keys of config.json; validated, saved, and says what needs a restart")
            .Accepts<ServerConfig>("application/json").Produces<AdminConfigResponse>();
        group.MapGet("/stats", Stats).WithSummary("Requests, errors and tokens per model, per key and per hour (?since=unix seconds)").Produces<AdminStats>();
        group.MapGet("/logs", Logs).WithSummary("Recent log lines (?limit, ?after)").Produces<AdminLogs>();
        group.MapDelete("/logs", ClearLogs).WithSummary("Clear the recent log lines");
        group.MapGet("/logs/stream", StreamLogs).WithSummary("Live log tail: each line a server-sent event").Produces<LogEntry>(200, "text/event-stream");
        group.MapGet("/master-key", RevealMasterKey).WithSummary("The master key, to a master-key caller or a local one without a key (never to an API key)").Produces<MasterKeyResponse>();
        group.MapPost("/master-key/regenerate", RegenerateMasterKey).WithSummary("A new master key; the old one stops working at once").Produces<MasterKeyResponse>();
        group.MapAdminHistory();
        group.MapAdminSetup();
        return group;
    }

    private static JsonHttpResult<AdminConfigResponse> GetConfig(ServerSettings settings) => ConfigResult(settings.Config, [], settings);

    private static JsonHttpResult<AdminConfigResponse> ConfigResult(ServerConfig config, IReadOnlyList<string> restart, ServerSettings settings)
    {
        var json = ToJson(config);
        // Secrets never leave in the config: an admin key that could read the master key would keep master access after it is revoked.
        foreach (var secret in ConfigSchema.SecretKeys)
        {
            json.Remove(secret);
        }
        return TypedResults.Json(new AdminConfigResponse(json, restart, settings.ConfigPath, !string.IsNullOrEmpty(config.MasterKey), !string.IsNullOrEmpty(config.TunnelToken)),
            ApiJsonContext.Wire.AdminConfigResponse);
    }

    /// <summary>Merges the given keys into the config, validates the whole, and persists it.</summary>
    private static async Task<Results<JsonHttpResult<AdminConfigResponse>, JsonHttpResult<ErrorBody>, JsonHttpResult<ConfigErrorBody>>> PatchConfig(HttpRequest request, ServerSettings settings)
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
            var field = e.Path is { Length: > 2 } p ? p[2..].Split('[', '.')[0] : null;
            var expected = ConfigSchema.Fields.FirstOrDefault(f => f.Key == field)?.Type switch
            {
                "integer" => "a whole number",
                "boolean" => "true or false",
                "string_list" => "a list of strings",
                "model_list" => "a list of {id, provider} objects",
                "string" => "a string",
                _ => "of another type",
            };
            return ConfigErrors([new(field ?? "", $"{field} must be {expected}.")], "invalid_type");
        }
        var problems = next.Problems().Where(p => p.Key != "masterKey").ToList();
        if (problems.Count > 0)
        {
            return ConfigErrors(problems, "invalid_value");
        }
        next.MasterKey = settings.Config.MasterKey;
        var before = ToJson(settings.Config);
        settings.Apply(next);
        var restart = ConfigSchema.RestartKeys.Where(k => patch.ContainsKey(k) && !JsonNode.DeepEquals(before[k], merged[k])).ToList();
        return ConfigResult(next, restart, settings);
    }

    /// <summary>An OpenAI-shaped error naming the first field, with every problem by field for the settings page.</summary>
    private static JsonHttpResult<ConfigErrorBody> ConfigErrors(List<ConfigProblem> problems, string code) =>
        TypedResults.Json(new ConfigErrorBody(new ErrorDetail(string.Join("; ", problems.Select(p => p.Message)), "invalid_request_error", problems[0].Key, code), problems),
            ApiJsonContext.Wire.ConfigErrorBody, statusCode: StatusCodes.Status400BadRequest);

    private static JsonHttpResult<AdminStats> Stats(long? since, UsageLog usage, ApiKeyStore keys, TimeProvider time, UsageWindows windows, ProviderRouter router)
    {
        var now = time.GetUtcNow();
        var from = since ?? now.AddDays(-1).ToUnixTimeSeconds();
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
            windows.Status(),
            [Window("hour", now.AddHours(-1)), Window("day", now.AddDays(-1)), Window("week", now.AddDays(-7))],
            usage.LatencyByProvider(from * 1000),
            Enum.GetValues<ProviderKind>().Select(k => new ProviderTurns(k.ToString().ToLowerInvariant(), router.RunningTurns(k), router.QueuedTurns(k))).ToList()),
            ApiJsonContext.Wire.AdminStats);

        WindowTotals Window(string name, DateTimeOffset start) => usage.TotalsSince(name, start.ToUnixTimeMilliseconds());
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
