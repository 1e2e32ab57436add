namespace CodexApiServer.Providers;

// A closed set: the base and its cases live together.

/// <summary>What a turn produces, in order; the last one is always a <see cref="TurnEnded"/>.</summary>
public abstract record TurnEvent;

public sealed record TextDelta(string Text) : TurnEvent;

public sealed record ReasoningDelta(string Text) : TurnEvent;

/// <summary>
/// The CLI's own token counts for the turn so far (the last one reported wins). Providers report
/// it when the CLI does; <see cref="TurnRun"/> puts the last one on the <see cref="TurnEnded"/>.
/// </summary>
public sealed record UsageReport(TokenUsage Usage) : TurnEvent;

/// <summary>
/// A sign of life from the CLI that carries nothing for the caller (a stream event, a retry notice):
/// it keeps a slow turn from counting as a hung one. Not passed on past <see cref="TurnRun"/>.
/// </summary>
public sealed record CliActivity : TurnEvent
{
    public static readonly CliActivity Instance = new();
}

/// <summary>The last event of every turn: why it ended, what it cost, and how to continue it.</summary>
/// <param name="SessionId">Handle to continue this conversation with a later turn (null when there is none).</param>
/// <param name="Usage">The CLI's token counts, when it reported any.</param>
/// <param name="Error">Why a <see cref="TurnEndReason.Failed"/> turn failed; null otherwise.</param>
public sealed record TurnEnded(TurnEndReason Reason, string? SessionId = null, TokenUsage? Usage = null, ProviderError? Error = null) : TurnEvent
{
    public static TurnEnded Failed(ProviderError error) => new(TurnEndReason.Failed, Error: error);

    /// <summary>The answer is whole or cut short, but there is one (not cancelled, not failed).</summary>
    public bool Answered => Reason is TurnEndReason.Stop or TurnEndReason.Length or TurnEndReason.Timeout;
}
