using System.Diagnostics;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Storage;
using CodexApiServer.Tunnel;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

public sealed record HealthResponse(
    string Status,
    string Version,
    long UptimeSeconds,
    HealthProviders Providers,
    TunnelStatus Tunnel,
    StorageStatus Storage);

public sealed record HealthProviders(CliStatus Codex, CliStatus Claude);

public static class HealthApi
{
    private static readonly long StartedAt = Stopwatch.GetTimestamp();

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/health", GetHealth);
        return routes;
    }

    // Reads cached state only: the CLI probe and the tunnel report in the background.
    private static JsonHttpResult<HealthResponse> GetHealth(CliProbe probe, TunnelManager tunnel, Database database)
    {
        var storage = database.Status();
        var body = new HealthResponse(
            storage.State == "ok" ? "ok" : "degraded",
            AppInfo.Version,
            (long)Stopwatch.GetElapsedTime(StartedAt).TotalSeconds,
            new HealthProviders(probe.Codex, probe.Claude),
            tunnel.Status,
            storage);
        return TypedResults.Json(body, ApiJsonContext.Wire.HealthResponse);
    }
}
