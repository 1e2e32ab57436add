namespace CodexApiServer.Providers;

/// <summary>What we know about one installed CLI. Null fields are not known yet.</summary>
public sealed record CliStatus(string Name, bool Found, string? Path, string? Version, bool? LoggedIn, string? Mode, string? Error, DateTimeOffset? CheckedAt)
{
    /// <summary>Codex: true once the upstream refused our base instructions, so chat threads keep Codex's own (issue 14).</summary>
    public bool? InstructionsFallback { get; init; }

    /// <summary>How the CLI is logged in, in words ("logged in with ChatGPT", "API key provider", "not logged in"); null until known.</summary>
    public string? Login { get; init; }
}
