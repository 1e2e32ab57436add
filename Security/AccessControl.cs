using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using CodexApiServer.Endpoints;
using CodexApiServer.Hosting;
using CodexApiServer.Storage;

namespace CodexApiServer.Security;

/// <summary>
/// The one gate every request passes: decides local or external, checks the key, the route's scope,
/// the key's limits, answers CORS, and slows down whoever keeps guessing keys.
/// </summary>
public sealed partial class AccessControl(ServerSettings settings, AllowedHosts hosts, ApiKeyStore keys, UsageLog usage, TimeProvider time, ILogger<AccessControl> logger)
{
    // cloudflared connects from 127.0.0.1 but always adds CF-Connecting-IP and X-Forwarded-For:
    // whatever arrives through a proxy is external, however local its address looks.
    private static readonly string[] ForwardingHeaders = ["X-Forwarded-For", "Forwarded", "X-Real-IP", "CF-Connecting-IP", "CF-Ray"];
    private const int FreeFailures = 5;
    private static readonly TimeSpan FailureWindow = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, FailureCount> _failures = new();
    private readonly ConcurrentDictionary<string, Queue<long>> _recentRequests = new();

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        var hostKind = hosts.Classify(request.Host);
        if (hostKind == HostKind.Refused)
        {
            await OpenAIErrors.WriteAsync(context, 403,
                $"This server does not answer to the host name '{request.Host}'. If you reach it by that name (a reverse proxy, a LAN name), add \"{request.Host.Host}\" to allowedHosts in the server's config.json; for a named tunnel, set tunnelCustomUrl.",
                "permission_error", "host_not_allowed");
            return;
        }
        var origin = request.Headers.Origin.ToString();
        var foreignOrigin = origin.Length > 0 && !hosts.IsOwnOrigin(origin, context.Connection.LocalPort) && !IsAllowedOrigin(origin);
        var corsAllowed = origin.Length > 0 && !foreignOrigin && IsAllowedOrigin(origin);

        if (HttpMethods.IsOptions(request.Method) && origin.Length > 0 && request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            await AnswerPreflightAsync(context, origin, corsAllowed);
            return;
        }
        if (corsAllowed)
        {
            AddCorsHeaders(context.Response, origin);
        }

        var external = foreignOrigin || hostKind == HostKind.External || IsExternalAddress(context);
        var presented = PresentedKey(request);
        var caller = Identify(presented, external);
        var scope = ScopeOf(context);

        if (presented is not null && caller.Key is null && !caller.IsMaster && !caller.LocalWithoutAuth)
        {
            await FailedAttemptAsync(context, "Incorrect API key provided. You can find your API keys in the admin console.", "invalid_api_key");
            return;
        }
        if (caller.Key is { } key && KeyProblem(key) is { } problem)
        {
            await FailedAttemptAsync(context, problem, "invalid_api_key");
            return;
        }
        context.Features.Set(caller);
        var info = RequestInfo.Of(context);
        info.ApiKeyId = caller.KeyId;
        info.OwnerFilter = caller.IsAdmin ? null : caller.KeyId;

        if (scope is not null)
        {
            if (!caller.IsMaster && caller.Key is null && !caller.LocalWithoutAuth)
            {
                await FailedAttemptAsync(context,
                    external && !foreignOrigin
                        ? "You didn't provide an API key. Requests from outside this machine need 'Authorization: Bearer YOUR_KEY'."
                        : foreignOrigin
                            ? $"Requests from the web origin '{origin}' need an API key; add the origin to corsOrigins to allow it."
                            : "You didn't provide an API key (allowLocalWithoutAuth is off).",
                    "missing_api_key", countAsFailure: false);
                return;
            }
            if (!caller.Allows(scope))
            {
                await OpenAIErrors.WriteAsync(context, 403, $"This API key does not have the '{scope}' scope needed for {request.Path}.", "permission_error", "insufficient_scope");
                return;
            }
            if (caller.Key is { } limited && !await WithinLimitsAsync(context, limited))
            {
                return;
            }
            if (caller.Key is { } used)
            {
                keys.TouchLastUsed(used.Id, time.GetUtcNow().ToUnixTimeSeconds());
            }
        }
        await next(context);
    }

    /// <summary>The scope the matched endpoint declares (null: public), or the fail-closed default when it declares none.</summary>
    private static string? ScopeOf(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        return endpoint?.Metadata.GetMetadata<RequiredScope>() is { } declared
            ? declared.Scope
            : RequiredScope.Undecided(context.Request.Path, endpoint);
    }

    private Caller Identify(string? presented, bool external)
    {
        var localFree = !external && settings.Config.AllowLocalWithoutAuth;
        if (presented is null)
        {
            return new Caller(external, false, null, localFree);
        }
        if (settings.Config.MasterKey is { } master && FixedTimeEquals(presented, master))
        {
            return new Caller(external, true, null, false);
        }
        var ours = presented.StartsWith("cdx_", StringComparison.Ordinal) || presented.StartsWith("msk_", StringComparison.Ordinal);
        var key = presented.StartsWith("cdx_", StringComparison.Ordinal) ? keys.FindByKey(presented) : null;
        // A local client that must send some key (the SDKs insist) and sends a placeholder is still local;
        // one that sends a key of ours that is wrong is told so, as it would be from outside.
        return new Caller(external, false, key, !ours && localFree);
    }

    private string? KeyProblem(ApiKeyRecord key)
    {
        if (!key.Active || key.RevokedAt is not null)
        {
            return "This API key has been revoked.";
        }
        if (key.ExpiresAt is { } expires && expires <= time.GetUtcNow().ToUnixTimeSeconds())
        {
            return "This API key has expired.";
        }
        return null;
    }

    private async Task<bool> WithinLimitsAsync(HttpContext context, ApiKeyRecord key)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (key.RequestsPerMinute is { } rpm)
        {
            var window = _recentRequests.GetOrAdd(key.Id, _ => new Queue<long>());
            long retryAfterMs = 0;
            int remaining;
            lock (window)
            {
                while (window.Count > 0 && window.Peek() <= now - 60_000)
                {
                    window.Dequeue();
                }
                if (window.Count >= rpm)
                {
                    retryAfterMs = window.Peek() + 60_000 - now;
                    remaining = 0;
                }
                else
                {
                    window.Enqueue(now);
                    remaining = rpm - window.Count;
                }
            }
            var headers = context.Response.Headers;
            headers["x-ratelimit-limit-requests"] = rpm.ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-requests"] = remaining.ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-requests"] = $"{Math.Max(retryAfterMs, 0) / 1000.0:0.###}s";
            if (retryAfterMs > 0)
            {
                await RateLimitedAsync(context, retryAfterMs, $"Rate limit reached for this API key: {rpm} requests per minute.", "rate_limit_exceeded");
                return false;
            }
        }
        if (key.TokensPerDay is { } tpd)
        {
            var used = usage.TokensSince(key.Id, now - 86_400_000);
            context.Response.Headers["x-ratelimit-limit-tokens"] = tpd.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["x-ratelimit-remaining-tokens"] = Math.Max(tpd - used, 0).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (used >= tpd)
            {
                var oldest = usage.OldestTokenUseSince(key.Id, now - 86_400_000) ?? now;
                await RateLimitedAsync(context, Math.Max(oldest + 86_400_000 - now, 1000), $"This API key has used its {tpd} tokens for the last 24 hours.", "tokens_per_day_exceeded");
                return false;
            }
        }
        return true;
    }

    private static Task RateLimitedAsync(HttpContext context, long retryAfterMs, string message, string code) =>
        new ApiError(429, message, "rate_limit_exceeded", code, RetryAfter: TimeSpan.FromMilliseconds(retryAfterMs)).WriteAsync(context);

    /// <summary>A 401, slowed down for an address that keeps failing, logged without the key.</summary>
    private async Task FailedAttemptAsync(HttpContext context, string message, string code, bool countAsFailure = true)
    {
        if (countAsFailure)
        {
            var address = ClientAddress(context);
            var now = time.GetUtcNow();
            var count = _failures.AddOrUpdate(address, _ => new FailureCount(1, now),
                (_, old) => now - old.Since > FailureWindow ? new FailureCount(1, now) : old with { Count = old.Count + 1 }).Count;
            LogFailedKey(logger, context.TraceIdentifier, address, count);
            if (count > FreeFailures)
            {
                var delay = TimeSpan.FromMilliseconds(Math.Min(250 * Math.Pow(2, count - FreeFailures - 1), 8000));
                await Task.Delay(delay, time, context.RequestAborted);
            }
            if (_failures.Count > 10_000)
            {
                foreach (var (k, v) in _failures)
                {
                    if (now - v.Since > FailureWindow)
                    {
                        _failures.TryRemove(k, out _);
                    }
                }
            }
        }
        context.Response.Headers.WWWAuthenticate = "Bearer";
        await new ApiError(401, message, "invalid_request_error", code, NoRetry: true).WriteAsync(context);
    }

    private async Task AnswerPreflightAsync(HttpContext context, string origin, bool allowed)
    {
        if (!allowed)
        {
            await OpenAIErrors.WriteAsync(context, 403, $"The web origin '{origin}' is not allowed; add it to corsOrigins.", "permission_error", "origin_not_allowed");
            return;
        }
        AddCorsHeaders(context.Response, origin);
        var headers = context.Response.Headers;
        headers.AccessControlAllowMethods = "GET, POST, PATCH, DELETE, OPTIONS";
        var requested = context.Request.Headers.AccessControlRequestHeaders.ToString();
        headers.AccessControlAllowHeaders = requested.Length > 0
            ? requested
            : "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout, x-api-key";
        headers.AccessControlMaxAge = "600";
        context.Response.StatusCode = 204;
    }

    private static void AddCorsHeaders(HttpResponse response, string origin)
    {
        response.Headers.AccessControlAllowOrigin = origin;
        response.Headers.AccessControlExposeHeaders = "x-request-id, request-id, retry-after, retry-after-ms, x-should-retry, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests";
        response.Headers.Vary = "Origin";
    }

    private static bool IsExternalAddress(HttpContext context)
    {
        if (!IsLoopbackPeer(context))
        {
            return true;
        }
        foreach (var header in ForwardingHeaders)
        {
            if (context.Request.Headers.ContainsKey(header))
            {
                return true;
            }
        }
        return false;
    }

    private bool IsAllowedOrigin(string origin) =>
        settings.Config.CorsOrigins.Any(o => string.Equals(o.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase));

    private static string? PresentedKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization[7..].Trim();
            return token.Length > 0 ? token : null;
        }
        var apiKey = request.Headers["x-api-key"].ToString().Trim();
        return apiKey.Length > 0 ? apiKey : null;
    }

    // Only cloudflared, on this machine, is believed about who it forwards; anyone else could name any address.
    private static string ClientAddress(HttpContext context) =>
        (IsLoopbackPeer(context) ? context.Request.Headers["CF-Connecting-IP"].FirstOrDefault() : null)
        ?? context.Connection.RemoteIpAddress?.ToString()
        ?? "unknown";

    private static bool IsLoopbackPeer(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));

    private sealed record FailureCount(int Count, DateTimeOffset Since);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} rejected API key from {Address} ({Count} failures in 5 min)")]
    private static partial void LogFailedKey(ILogger logger, string requestId, string address, int count);
}
