namespace CodexApiServer.Providers;

// A closed set: the base and its cases live together.

/// <summary>What a turn produces, in order; the last one is always a <see cref="TurnEnded"/>.</summary>
public abstract record TurnEvent;

public sealed record TextDelta(string Text) : TurnEvent;

public sealed record ReasoningDelta(string Text) : TurnEvent;

/// <summary>
/// The CLI's own token counts for the turn so far (the last one reported wins). Providers report
/// it when the CLI does (as early as it does); <see cref="TurnRun"/> passes each on and puts the last one on the <see cref="TurnEnded"/>.
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

/// <summary>
/// The model called client tools: all the calls of one model step, together. The turn is held (the CLI
/// waits) until <see cref="Answer"/> gives their results, then goes on with more events. The provider
/// yields this and then awaits <see cref="Results"/>; <see cref="TurnRun"/> stops the turn's clocks meanwhile.
/// </summary>
public sealed record ToolCallsRequested(IReadOnlyList<ToolCall> Calls) : TurnEvent
{
    private readonly TaskCompletionSource<IReadOnlyList<ToolResult>> _results = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The client's results, matched to <see cref="Calls"/> by <see cref="ToolResult.CallId"/> (a call without one counts as failed).</summary>
    public Task<IReadOnlyList<ToolResult>> Results => _results.Task;

    /// <summary>Gives the results; false when they were given already.</summary>
    public bool Answer(IReadOnlyList<ToolResult> results) => _results.TrySetResult(results);

    /// <summary>The result for <paramref name="call"/>, or a failure saying none came.</summary>
    public static ToolResult ResultFor(ToolCall call, IReadOnlyList<ToolResult> results) =>
        results.FirstOrDefault(r => r.CallId == call.Id) ?? new ToolResult(call.Id, "The client sent no result for this call.", IsError: true);
}

/// <summary>The last event of every turn: why it ended, what it cost, and how to continue it.</summary>
/// <param name="SessionId">Handle to continue this conversation with a later turn (null when there is none).</param>
/// <param name="Usage">The CLI's token counts, when it reported any.</param>
/// <param name="Error">Why a <see cref="TurnEndReason.Failed"/> turn failed; null otherwise.</param>
public sealed record TurnEnded(TurnEndReason Reason, string? SessionId = null, TokenUsage? Usage = null, ProviderError? Error = null) : TurnEvent
{
    public static TurnEnded Failed(ProviderError error) => new(TurnEndReason.Failed, Error: error);

    /// <summary>The answer is whole or cut short, but there is one (not cancelled, not failed).</summary>
    public bool Answered => Reason is TurnEndReason.Stop or TurnEndReason.Length or TurnEndReason.Timeout or TurnEndReason.ToolCalls;
}
