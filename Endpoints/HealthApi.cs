using System.Diagnostics;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using CodexApiServer.Tunnel;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

public static class HealthApi
{
    private static readonly long StartedAt = Stopwatch.GetTimestamp();

    internal static long Uptime => (long)Stopwatch.GetElapsedTime(StartedAt).TotalSeconds;

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/health", GetHealth).Public()
            .WithSummary("Status, version, the CLIs, tunnel, storage and memory; from outside without a key only status, version and uptime")
            .Produces<HealthResponse>()
            .Produces<HealthSummary>();
        return routes;
    }

    // Reads cached state only (the CLI probe and the tunnel report in the background) and /proc for the CLIs' memory.
    private static Results<JsonHttpResult<HealthResponse>, JsonHttpResult<HealthSummary>> GetHealth(HttpContext context, CliProbe probe, TunnelManager tunnel, Database database, MemoryBudget memory, UsageWindows usage)
    {
        var storage = database.Status();
        var caller = Caller.Of(context);
        if (caller.External && caller.Key is null && !caller.IsMaster)
        {
            return TypedResults.Json(new HealthSummary(storage.State == "ok" ? "ok" : "degraded", AppInfo.Version, Uptime), ApiJsonContext.Wire.HealthSummary);
        }
        var body = new HealthResponse(
            storage.State == "ok" ? "ok" : "degraded",
            AppInfo.Version,
            Uptime,
            new HealthProviders(probe.Codex, probe.Claude),
            tunnel.Status,
            storage,
            memory.Status(),
            usage.Status());
        return TypedResults.Json(body, ApiJsonContext.Wire.HealthResponse);
    }
}
