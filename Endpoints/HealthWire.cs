using CodexApiServer.Providers;
using CodexApiServer.Storage;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Endpoints;

public sealed record HealthResponse(
    string Status,
    string Version,
    long UptimeSeconds,
    HealthProviders Providers,
    TunnelStatus Tunnel,
    StorageStatus Storage,
    MemoryStatus Memory,
    UsageWindowsStatus UsageWindows);

/// <summary>What an anonymous caller from outside sees: no paths, versions of CLIs or tunnel details.</summary>
public sealed record HealthSummary(string Status, string Version, long UptimeSeconds);

public sealed record HealthProviders(CliStatus Codex, CliStatus Claude);
