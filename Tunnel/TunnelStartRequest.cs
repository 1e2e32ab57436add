namespace CodexApiServer.Tunnel;

public sealed record TunnelStartRequest(string? Mode);
