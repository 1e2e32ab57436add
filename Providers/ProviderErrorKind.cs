namespace CodexApiServer.Providers;

/// <summary>What went wrong with a turn. `Endpoints/ProviderErrors.cs` is the one place that says what a caller is told for each.</summary>
public enum ProviderErrorKind
{
    /// <summary>The CLI is not installed.</summary>
    NotInstalled,

    /// <summary>The CLI is not logged in (its upstream said 401); retrying will not help.</summary>
    NotAuthenticated,

    /// <summary>No turn slot or memory for a new CLI process in time; retry after <see cref="ProviderError.RetryAfter"/>.</summary>
    Busy,

    /// <summary>The CLI's own turn ran past its time limit and was interrupted.</summary>
    Timeout,

    /// <summary>The model upstream failed (5xx, overload, ...).</summary>
    Upstream,

    /// <summary>The CLI died or spoke nonsense mid-turn.</summary>
    Crashed,

    /// <summary>The CLI refused the input.</summary>
    InvalidRequest,

    /// <summary>The model said the prompt is longer than its context window.</summary>
    ContextLengthExceeded,

    /// <summary>The session in <see cref="TurnRequest.SessionId"/> is neither live nor resumable; the caller replays the history in a new session.</summary>
    SessionNotFound,

    /// <summary>The CLI (or its model upstream) does not know the model.</summary>
    ModelNotFound,

    /// <summary>The CLI cannot run the turn safely as configured (codex refused the chat-mode settings).</summary>
    Unavailable,

    /// <summary>The CLI sent nothing for too long (first-output or idle-stream timeout) and was stopped: a hung CLI is an error, not a short answer.</summary>
    Stalled,

    /// <summary>
    /// The subscription's model API refused the request as third-party use (it would draw from extra
    /// usage, not the plan); retrying the same request gets the same answer.
    /// </summary>
    SubscriptionRefused,

    /// <summary>A usage window of the CLI's subscription is exhausted; retry after <see cref="ProviderError.RetryAfter"/> (its reset).</summary>
    UsageLimit,

    /// <summary>The account behind the CLI is out of credit or quota (no reset to wait for): it needs billing, not time.</summary>
    QuotaExhausted,
}
