using CodexApiServer.Security;
using CodexApiServer.Tunnel;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>The Cloudflare tunnel: status, start, stop, and installing cloudflared. Admin scope, on the group.</summary>
public static class AdminTunnelApi
{
    public static RouteGroupBuilder MapAdminTunnelApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin/tunnel").RequireScope(RequiredScope.Admin);
        group.MapGet("/status", GetStatus).WithSummary("Tunnel state, public URL, restarts, last error").Produces<TunnelStatus>();
        group.MapPost("/start", Start).WithSummary("Start the tunnel (quick, or named with tunnelToken)")
            .Accepts<TunnelStartRequest>(isOptional: true, "application/json").Produces<TunnelStatus>(202);
        group.MapPost("/stop", Stop).WithSummary("Stop the tunnel").Produces<TunnelStatus>();
        group.MapPost("/install", Install).WithSummary("Download cloudflared into the data directory").Produces<TunnelStatus>(202);
        return group;
    }

    private static JsonHttpResult<TunnelStatus> GetStatus(TunnelManager tunnel) =>
        TypedResults.Json(tunnel.Status, ApiJsonContext.Wire.TunnelStatus);

    private static async Task<Results<JsonHttpResult<TunnelStatus>, JsonHttpResult<ErrorBody>>> Start(HttpRequest request, TunnelManager tunnel)
    {
        string? mode = null;
        // The body is optional: an empty POST starts the default mode.
        if (request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false)
        {
            var (body, error) = await RequestBody.ReadAsync(request, ApiJsonContext.Wire.TunnelStartRequest);
            if (error is not null)
            {
                return error;
            }
            mode = body!.Mode;
            if (mode is not (null or TunnelManager.Quick or TunnelManager.Named))
            {
                return OpenAIErrors.InvalidRequest($"Unknown tunnel mode '{mode}'; use \"quick\" or \"named\".", "mode");
            }
        }
        if (await tunnel.StartTunnelAsync(mode, request.HttpContext.RequestAborted) is { } failure)
        {
            return OpenAIErrors.Result(failure.StatusCode, failure.Message, "invalid_request_error", failure.Code, failure.Code == "tunnel_token_missing" ? "mode" : null);
        }
        return TypedResults.Json(tunnel.Status, ApiJsonContext.Wire.TunnelStatus, statusCode: StatusCodes.Status202Accepted);
    }

    private static async Task<JsonHttpResult<TunnelStatus>> Stop(TunnelManager tunnel)
    {
        await tunnel.StopTunnelAsync();
        return TypedResults.Json(tunnel.Status, ApiJsonContext.Wire.TunnelStatus);
    }

    private static Results<JsonHttpResult<TunnelStatus>, JsonHttpResult<ErrorBody>> Install(TunnelManager tunnel) =>
        tunnel.BeginInstall() is { } error
            ? OpenAIErrors.Result(StatusCodes.Status501NotImplemented, error, "invalid_request_error", "unsupported_platform")
            : TypedResults.Json(tunnel.Status, ApiJsonContext.Wire.TunnelStatus, statusCode: StatusCodes.Status202Accepted);
}
