namespace CodexApiServer.Tunnel;

/// <summary>Where cloudflared was found, or how to install it.</summary>
public sealed record CloudflaredStatus(bool Found, string? Path, string? InstallHint);
