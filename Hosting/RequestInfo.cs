namespace CodexApiServer.Hosting;

/// <summary>What a request learned on its way (model, key, tokens), for its log line and usage row.</summary>
public sealed class RequestInfo
{
    public string? Model { get; set; }
    public string? Provider { get; set; }
    public string? ApiKeyId { get; set; }

    /// <summary>The key whose stored responses this caller may see, or null for all (admin, master, local).</summary>
    public string? OwnerFilter { get; set; }

    public bool CanSee(string? ownerKeyId) => OwnerFilter is null || ownerKeyId == OwnerFilter;
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }
    public long CachedTokens { get; set; }
    public long ReasoningTokens { get; set; }

    /// <summary>When the request arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>).</summary>
    public long StartedAt { get; set; }

    /// <summary>Seconds from arrival to the model's first output (text, reasoning or a tool call), once there was any.</summary>
    public double? FirstOutputSeconds { get; private set; }

    public void MarkFirstOutput() => FirstOutputSeconds ??= System.Diagnostics.Stopwatch.GetElapsedTime(StartedAt).TotalSeconds;

    public static RequestInfo Of(HttpContext context)
    {
        if (context.Items[typeof(RequestInfo)] is not RequestInfo info)
        {
            info = new RequestInfo();
            context.Items[typeof(RequestInfo)] = info;
        }
        return info;
    }
}
