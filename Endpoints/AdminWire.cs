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
    UsageWindowsStatus UsageWindows);

public sealed record AdminLogs(string Object, IReadOnlyList<LogEntry> Data);

public sealed record MasterKeyResponse(string MasterKey);
