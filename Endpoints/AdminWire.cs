using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Storage;

namespace CodexApiServer.Endpoints;

/// <summary>The settings without their secrets: <see cref="MasterKeySet"/> and <see cref="TunnelTokenSet"/> say whether those are set.</summary>
public sealed record AdminConfigResponse(JsonObject Config, IReadOnlyList<string> RestartRequired, string ConfigPath, bool MasterKeySet, bool TunnelTokenSet);

public sealed record AdminStats(
    long Since,
    long Requests,
    long Errors,
    long InputTokens,
    long OutputTokens,
    IReadOnlyList<UsageTotals> ByModel,
    IReadOnlyList<KeyTotals> ByKey,
    IReadOnlyList<HourTotals> ByHour,
    UsageWindowsStatus UsageWindows,
    IReadOnlyList<WindowTotals> Windows,
    IReadOnlyList<ProviderLatency> LatencyByProvider,
    IReadOnlyList<ProviderTurns> Turns);

/// <summary>Turns running now and requests waiting for a turn slot, per CLI.</summary>
public sealed record ProviderTurns(string Provider, long Running, long Queued);

public sealed record ConfigSchemaResponse(string Object, IReadOnlyList<ConfigField> Data);

/// <summary>An OpenAI error plus every problem by config key, so the settings page shows each at its field.</summary>
public sealed record ConfigErrorBody(ErrorDetail Error, IReadOnlyList<ConfigProblem> Problems);

public sealed record AdminLogs(string Object, IReadOnlyList<LogEntry> Data);

public sealed record MasterKeyResponse(string MasterKey);
