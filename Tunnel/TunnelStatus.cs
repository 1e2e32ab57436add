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
