namespace CodexApiServer.Security;

/// <summary>
/// Endpoint metadata: the key scope a route needs, or none (<see cref="Public"/>) for what anyone may
/// fetch. Set on each endpoint group; <see cref="AccessControl"/> reads it from the matched endpoint,
/// so a route's guard is written next to the route, not in a list of paths elsewhere.
/// </summary>
public sealed record RequiredScope(string? Scope)
{
    public const string Admin = "admin";
    public const string Chat = "chat";
    public const string Responses = "responses";
    public const string Messages = "messages";
    public const string Models = "models";

    /// <summary>Any valid key, whatever its scopes (from outside; none from this machine).</summary>
    public const string Any = "any";

    public static readonly RequiredScope Public = new((string?)null);

    /// <summary>
    /// What a request without a decision needs: a route mapped without a scope, routing's own 405, or
    /// no route at all (404). Fails closed: admin under the admin prefixes, a key under /v1 and for any
    /// other unscoped route; only a request that matched no route and is outside both answers freely (its 404).
    /// </summary>
    public static string? Undecided(PathString path, Endpoint? endpoint) =>
        path.StartsWithSegments("/admin") || path.StartsWithSegments("/v1/api-keys") ? Admin
        : path.StartsWithSegments("/v1") || endpoint is RouteEndpoint ? Any
        : null;
}
