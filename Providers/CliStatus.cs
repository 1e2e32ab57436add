namespace CodexApiServer.Providers;

/// <summary>What we know about one installed CLI. Null fields are not known yet.</summary>
/// <param name="Login">How it reaches its model: "oauth" (a subscription login), "api_key", or "none" (set for claude).</param>
/// <param name="LastRefusal">The last request its subscription refused as third-party use, since the server started.</param>
public sealed record CliStatus(string Name, bool Found, string? Path, string? Version, bool? LoggedIn, string? Mode, string? Error, DateTimeOffset? CheckedAt,
    string? Login = null, CliRefusal? LastRefusal = null);

/// <summary>A request the CLI's subscription refused (<see cref="ProviderErrorKind.SubscriptionRefused"/>): the upstream's words and when.</summary>
public sealed record CliRefusal(string Message, DateTimeOffset At);
