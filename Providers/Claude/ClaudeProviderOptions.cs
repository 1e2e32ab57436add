namespace CodexApiServer.Providers.Claude;

/// <summary>Knobs tests turn; real users get the defaults and their normal environment.</summary>
public sealed class ClaudeProviderOptions
{
    /// <summary>Extra environment for every claude child (tests point it at a mock upstream).</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Idle live sessions and spares are ended after this long without a turn.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
