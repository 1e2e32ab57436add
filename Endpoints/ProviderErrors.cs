using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>The one place a provider failure becomes an HTTP status and an OpenAI error.</summary>
public static class ProviderErrors
{
    public static ApiError ToApiError(ProviderError error)
    {
        var hint = error.Hint is not null ? " " + error.Hint : "";
        return error.Kind switch
        {
            ProviderErrorKind.NotInstalled or ProviderErrorKind.Unavailable => new(503, error.Message + hint, "server_error", "provider_unavailable", NoRetry: true),
            ProviderErrorKind.NotAuthenticated => new(503, error.Hint is null ? error.Message : $"{error.Message.TrimEnd('.', ' ')}. Run on the server: {error.Hint}",
                "server_error", "provider_not_authenticated", NoRetry: true),
            ProviderErrorKind.Busy => new(429, error.Message, "rate_limit_exceeded", "rate_limit_exceeded", RetryAfter: error.RetryAfter ?? TimeSpan.FromSeconds(2)),
            ProviderErrorKind.UsageLimit => new(429, WithHint(error), "rate_limit_exceeded", "rate_limit_exceeded", RetryAfter: error.RetryAfter, NoRetry: error.RetryAfter is null),
            ProviderErrorKind.QuotaExhausted => new(429, WithHint(error), "insufficient_quota", "insufficient_quota", NoRetry: true),
            ProviderErrorKind.InvalidRequest => new(400, error.Message, "invalid_request_error", "invalid_value"),
            ProviderErrorKind.ModelNotFound => new(404, error.Message, "invalid_request_error", "model_not_found", "model"),
            ProviderErrorKind.ContextLengthExceeded => new(400, error.Message, "invalid_request_error", "context_length_exceeded"),
            ProviderErrorKind.SubscriptionRefused => new(400, $"The model API refused this request as third-party use of the subscription: {error.Message.TrimEnd('.', ' ')}.{hint}",
                "invalid_request_error", "subscription_third_party_refused", NoRetry: true),
            ProviderErrorKind.Timeout or ProviderErrorKind.Stalled => new(504, error.Message, "server_error", "timeout"),
            _ => new(502, error.Message, "server_error", "server_error", NoRetry: error.AlreadyRetried),
        };
    }

    private static string WithHint(ProviderError error) => error.Hint is null ? error.Message : $"{error.Message.TrimEnd('.', ' ')}. {error.Hint}";
}
