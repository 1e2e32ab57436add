namespace CodexApiServer.Providers;

/// <summary>Why a turn ended. The wire words for each ("stop", "incomplete", ...) are the encoders' business.</summary>
public enum TurnEndReason
{
    /// <summary>The model finished its answer.</summary>
    Stop,

    /// <summary>
    /// The model called client tools (<see cref="ToolCallsRequested"/>): this answer ends here, and the
    /// turn itself is held, waiting for the results in the client's follow-up.
    /// </summary>
    ToolCalls,

    /// <summary>The model stopped at its output limit.</summary>
    Length,

    /// <summary>The turn ran past turnTimeoutSeconds and was interrupted: an incomplete answer, not an error.</summary>
    Timeout,

    /// <summary>The caller stopped it: the client went away, or the cancel endpoint.</summary>
    Cancelled,

    /// <summary>It failed; <see cref="TurnEnded.Error"/> says how.</summary>
    Failed,
}
