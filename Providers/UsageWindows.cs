using System.Collections.Concurrent;
using System.Text.Json;

namespace CodexApiServer.Providers;

/// <summary>One usage window of a subscription as its CLI last reported it.</summary>
/// <param name="Window">"5h", "weekly", or the CLI's own name for another window.</param>
/// <param name="UsedPercent">0..100; 100 means exhausted.</param>
/// <param name="WindowMinutes">The window's length, when the CLI says.</param>
/// <param name="ResetsAt">Unix seconds, when the CLI says.</param>
/// <param name="Exhausted">The upstream refused requests for this window (a 429 or status "rejected").</param>
/// <param name="ReportedAt">Unix seconds of the report.</param>
public sealed record UsageWindow(string Window, double UsedPercent, long? WindowMinutes, long? ResetsAt, bool Exhausted, long ReportedAt);

/// <summary>The usage windows of one CLI, latest per window; also what a metrics exporter reads.</summary>
public sealed record UsageWindowsStatus(IReadOnlyList<UsageWindow> Codex, IReadOnlyList<UsageWindow> Claude);

/// <summary>
/// The latest usage report per CLI and window (5-hour, weekly), from codex's
/// `account/rateLimits/updated` and Claude Code's `rate_limit_event`. A window that is exhausted and
/// resets in the future closes its CLI: <see cref="ProviderRouter"/> answers 429 without starting a turn.
/// </summary>
public sealed class UsageWindows(TimeProvider time)
{
    private readonly ConcurrentDictionary<(ProviderKind Kind, string Window), UsageWindow> _windows = new();

    /// <param name="exhausted">The upstream refuses requests for this window now (not merely 100 % used: a Claude
    /// subscription with extra usage goes on past 100 %).</param>
    public void Report(ProviderKind kind, string window, double usedPercent, long? windowMinutes, long? resetsAt, bool exhausted) =>
        _windows[(kind, window)] = new UsageWindow(window, Math.Clamp(usedPercent, 0, 100), windowMinutes, resetsAt, exhausted, time.GetUtcNow().ToUnixTimeSeconds());

    public IReadOnlyList<UsageWindow> Of(ProviderKind kind) =>
        [.. _windows.Where(w => w.Key.Kind == kind).Select(w => w.Value).OrderBy(w => w.WindowMinutes ?? long.MaxValue)];

    public UsageWindowsStatus Status() => new(Of(ProviderKind.Codex), Of(ProviderKind.Claude));

    /// <summary>The exhausted window of <paramref name="kind"/> that resets last, while it has not reset.</summary>
    public UsageWindow? Exhausted(ProviderKind kind)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        return _windows.Where(w => w.Key.Kind == kind && w.Value.Exhausted && w.Value.ResetsAt is { } r && r > now)
            .Select(w => w.Value).OrderByDescending(w => w.ResetsAt).FirstOrDefault();
    }

    /// <summary>A usage-limit <paramref name="error"/> without a reset gets that of <paramref name="kind"/>'s exhausted window.</summary>
    public ProviderError WithReset(ProviderKind kind, ProviderError error) =>
        error is { Kind: ProviderErrorKind.UsageLimit, RetryAfter: null } && Exhausted(kind) is { } window ? error with { RetryAfter = Until(window) } : error;

    /// <summary>How long until <paramref name="window"/> resets.</summary>
    public TimeSpan Until(UsageWindow window) =>
        TimeSpan.FromSeconds(Math.Max(1, (window.ResetsAt ?? 0) - time.GetUtcNow().ToUnixTimeSeconds()));

    /// <summary>Names a window by its length: 300 minutes is "5h", 10080 "weekly".</summary>
    public static string Name(long? minutes, string fallback) => minutes switch
    {
        300 => "5h",
        10080 => "weekly",
        { } m => m + "m",
        null => fallback,
    };

    /// <summary>Reads Claude Code's `rate_limit_event`: every window it names, and the one it says refused the request.</summary>
    public void ReportClaude(Claude.ClaudeRateLimit limit)
    {
        foreach (var w in limit.Windows)
        {
            Report(ProviderKind.Claude, Claude.ClaudeRateLimit.Name(w.Name), w.Utilization * 100, Claude.ClaudeRateLimit.Minutes(w.Name), w.ResetsAt,
                limit.Rejected && limit.RateLimitType == w.Name);
        }
        if (limit.Rejected && limit.RateLimitType is { } type && !limit.Windows.Any(w => w.Name == type))
        {
            Report(ProviderKind.Claude, Claude.ClaudeRateLimit.Name(type), 100, Claude.ClaudeRateLimit.Minutes(type), limit.ResetsAt, exhausted: true);
        }
    }

    /// <summary>Reads codex's `account/rateLimits/updated` params: `rateLimits.primary`/`secondary` {usedPercent, windowDurationMins, resetsAt}.</summary>
    public void ReportCodex(JsonElement parameters)
    {
        if (parameters.ValueKind != JsonValueKind.Object || !parameters.TryGetProperty("rateLimits", out var limits) || limits.ValueKind != JsonValueKind.Object)
        {
            return;
        }
        foreach (var (slot, fallback) in new[] { ("primary", "primary"), ("secondary", "secondary") })
        {
            if (!limits.TryGetProperty(slot, out var w) || w.ValueKind != JsonValueKind.Object || !w.TryGetProperty("usedPercent", out var used) || !used.TryGetDouble(out var percent))
            {
                continue;
            }
            long? minutes = w.TryGetProperty("windowDurationMins", out var m) && m.TryGetInt64(out var mv) ? mv : null;
            long? resets = w.TryGetProperty("resetsAt", out var t) && t.TryGetInt64(out var tv) ? tv : null;
            // The ChatGPT backend refuses at 100 %: there is no extra usage past a Codex window.
            Report(ProviderKind.Codex, Name(minutes, fallback), percent, minutes, resets, exhausted: percent >= 100);
        }
    }
}
