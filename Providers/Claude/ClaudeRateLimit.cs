namespace CodexApiServer.Providers.Claude;

/// <summary>
/// A `rate_limit_event` of claude's stream-json: what the model API's `anthropic-ratelimit-unified-*`
/// headers said of the subscription's windows. claude 2.1.331 writes it only when logged in with a
/// subscription (OAuth), after each upstream response, and before a refused turn's result.
/// </summary>
/// <param name="Status">"allowed", "allowed_warning" or "rejected".</param>
/// <param name="RateLimitType">The window the status is about: "five_hour", "seven_day", "seven_day_opus", "overage".</param>
/// <param name="ResetsAt">Unix seconds when that window resets.</param>
/// <param name="Windows">Each window claude reports (`unifiedWindows`): its name, utilization 0..1 and reset.</param>
public sealed record ClaudeRateLimit(string Status, string? RateLimitType, long? ResetsAt, IReadOnlyList<ClaudeRateLimitWindow> Windows)
{
    public bool Rejected => Status == "rejected";

    /// <summary>The window's length in minutes, for the names claude uses.</summary>
    public static long? Minutes(string? name) => name switch
    {
        "five_hour" => 300,
        "seven_day" or "seven_day_opus" or "seven_day_sonnet" or "seven_day_overage_included" => 10080,
        _ => null,
    };

    /// <summary>Our name of a window: "5h" and "weekly" as for Codex; another weekly one keeps its model ("weekly opus").</summary>
    public static string Name(string name) => name switch
    {
        "five_hour" => "5h",
        "seven_day" => "weekly",
        _ when name.StartsWith("seven_day_", StringComparison.Ordinal) => "weekly " + name["seven_day_".Length..].Replace('_', ' '),
        _ => name.Replace('_', ' '),
    };
}

/// <param name="Utilization">0..1.</param>
public sealed record ClaudeRateLimitWindow(string Name, double Utilization, long? ResetsAt);
