namespace CodexApiServer.Tunnel;

/// <summary>
/// The tunnel as /health and /admin/tunnel/status show it. <c>State</c> is "stopped", "starting",
/// "running" or "error"; <c>Message</c> is the sentence to show a user; <c>LastError</c> stays until the next start.
/// </summary>
public sealed record TunnelStatus(
    string State,
    string? Mode,
    string? Url,
    string Message,
    DateTimeOffset? Since,
    int? Pid,
    int Restarts,
    string? LastError,
    DateTimeOffset? NextRestartAt,
    CloudflaredStatus Cloudflared,
    TunnelInstallStatus? Install);

/// <summary>Where cloudflared was found, or how to install it.</summary>
public sealed record CloudflaredStatus(bool Found, string? Path, string? InstallHint);

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

public sealed record TunnelStartRequest(string? Mode);
