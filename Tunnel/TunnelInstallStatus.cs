namespace CodexApiServer.Tunnel;

/// <summary>Progress of POST /admin/tunnel/install. <c>State</c> is "downloading", "verifying", "installed" or "failed".</summary>
public sealed record TunnelInstallStatus(
    string State,
    string Source,
    long BytesDownloaded,
    long? BytesTotal,
    string? Path,
    string? Version,
    string? Error,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt);
