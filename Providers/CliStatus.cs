namespace CodexApiServer.Providers;

/// <summary>What we know about one installed CLI. Null fields are not known yet.</summary>
/// <param name="Login">How it reaches its model: claude "oauth" (a subscription login), "api_key" or "none"; codex in words
/// ("logged in with ChatGPT", "API key provider", "not logged in"). Null until known.</param>
/// <param name="LastRefusal">The last request its subscription refused as third-party use, since the server started.</param>
public sealed record CliStatus(string Name, bool Found, string? Path, string? Version, bool? LoggedIn, string? Mode, string? Error, DateTimeOffset? CheckedAt,
    string? Login = null, CliRefusal? LastRefusal = null)
{
    /// <summary>Codex: true once the upstream refused our base instructions, so chat threads keep Codex's own (issue 14).</summary>
    public bool? InstructionsFallback { get; init; }
}

/// <summary>A request the CLI's subscription refused (<see cref="ProviderErrorKind.SubscriptionRefused"/>): the upstream's words and when.</summary>
public sealed record CliRefusal(string Message, DateTimeOffset At);
