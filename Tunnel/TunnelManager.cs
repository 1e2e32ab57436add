namespace CodexApiServer.Tunnel;

public sealed record TunnelStatus(string State, string? Mode, string? Url, DateTimeOffset? Since, int Restarts, string? LastError, string? CloudflaredPath);

/// <summary>Owns the cloudflared child. Until the tunnel issue lands it only reports that no tunnel runs.</summary>
public sealed class TunnelManager
{
    public TunnelStatus Status { get; private set; } = new("stopped", null, null, null, 0, null, null);
}
