namespace CodexApiServer.Providers;

/// <summary>A provider failure, typed; the endpoints decide what HTTP status and error body it becomes.</summary>
/// <param name="Hint">What the operator should do, e.g. the command to run on the server.</param>
/// <param name="RetryAfter">When a retry may succeed (<see cref="ProviderErrorKind.Busy"/>).</param>
public sealed record ProviderError(ProviderErrorKind Kind, string Message, string? Hint = null, TimeSpan? RetryAfter = null)
{
    /// <summary>The CLI already retried the upstream before giving up: a client's retry at once would only repeat that.</summary>
    public bool AlreadyRetried { get; init; }
}
