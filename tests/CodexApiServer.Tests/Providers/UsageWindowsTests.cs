using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Tests.Providers;

/// <summary>When a usage window closes its CLI: only when the upstream refuses, not whenever a report says 100 %.</summary>
public sealed class UsageWindowsTests
{
    private static readonly long Reset = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600;

    private static ClaudeRateLimit Event(string status, double fiveHour)
    {
        var info = new JsonObject
        {
            ["status"] = status,
            ["resetsAt"] = Reset,
            ["rateLimitType"] = "five_hour",
            ["isUsingOverage"] = false,
            ["unifiedWindows"] = new JsonObject
            {
                ["five_hour"] = new JsonObject { ["utilization"] = fiveHour, ["resetsAt"] = Reset },
                ["seven_day_opus"] = new JsonObject { ["utilization"] = 0.5, ["resetsAt"] = Reset + 86400 },
            },
        };
        var line = new JsonObject { ["type"] = "rate_limit_event", ["rate_limit_info"] = info, ["uuid"] = "u", ["session_id"] = "s" };
        return ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(line.ToJsonString()))!.RateLimit!;
    }

    [Fact]
    public void Claude_at_100_percent_but_allowed_stays_open_and_rejected_closes()
    {
        var windows = new UsageWindows(TimeProvider.System);
        // A subscription with extra usage goes on past its window.
        windows.ReportClaude(Event("allowed", 1.0));
        Assert.Null(windows.Exhausted(ProviderKind.Claude));
        var fiveHour = windows.Of(ProviderKind.Claude).Single(w => w.Window == "5h");
        Assert.Equal((100, 300L, Reset, false), (fiveHour.UsedPercent, fiveHour.WindowMinutes!.Value, fiveHour.ResetsAt!.Value, fiveHour.Exhausted));
        Assert.Contains(windows.Of(ProviderKind.Claude), w => w.Window == "weekly opus" && w.UsedPercent == 50 && w.WindowMinutes == 10080);

        windows.ReportClaude(Event("rejected", 1.0));
        Assert.Equal("5h", windows.Exhausted(ProviderKind.Claude)?.Window);
        Assert.InRange(windows.Until(windows.Exhausted(ProviderKind.Claude)!).TotalSeconds, 3500, 3600);
        Assert.Null(windows.Exhausted(ProviderKind.Codex));
    }

    [Fact]
    public void A_usage_limit_error_gets_the_reset_of_the_exhausted_window()
    {
        var windows = new UsageWindows(TimeProvider.System);
        var error = new ProviderError(ProviderErrorKind.UsageLimit, "limit");
        Assert.Null(windows.WithReset(ProviderKind.Claude, error).RetryAfter);
        windows.ReportClaude(Event("rejected", 1.0));
        Assert.InRange(windows.WithReset(ProviderKind.Claude, error).RetryAfter!.Value.TotalSeconds, 3500, 3600);
        // Any other failure is left as it is.
        Assert.Null(windows.WithReset(ProviderKind.Claude, new ProviderError(ProviderErrorKind.Upstream, "x")).RetryAfter);
    }
}
