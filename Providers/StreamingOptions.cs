namespace CodexApiServer.Providers;

/// <summary>Tunables that tests shorten; not in config.json.</summary>
public sealed class StreamingOptions
{
    /// <summary>A `: keep-alive` comment goes out after this much silence on a stream.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a cancelled provider may take to stop before the turn is given up on.</summary>
    public TimeSpan CancelGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Turns waiting for a slot beyond this many get 429 at once.</summary>
    public int MaxQueueLength { get; set; } = 100;
}
