using System.Text.Json;

namespace CodexApiServer.Providers;

// The provider contract. Endpoints build a TurnRequest, call ITurnProvider.RunAsync and turn the
// events into their wire format; they never see a process. Providers own processes, sessions and
// the CLI protocols.

/// <param name="Model">The catalog entry; <see cref="ModelEntry.CliModel"/> is what goes to the CLI.</param>
/// <param name="Instructions">System/developer instructions, or null.</param>
/// <param name="Messages">The conversation in order. With a <paramref name="SessionId"/>, only what is new since that session's last turn.</param>
/// <param name="ReasoningEffort">none|minimal|low|medium|high|xhigh|max, or null for the CLI's default.</param>
/// <param name="OutputSchema">A JSON schema the final answer must follow (structured output), or null.</param>
/// <param name="SessionId">A session handle returned by an earlier turn's <see cref="TurnCompleted"/>, to continue it.</param>
public sealed record TurnRequest(
    ModelEntry Model,
    string? Instructions,
    IReadOnlyList<TurnMessage> Messages,
    string? ReasoningEffort = null,
    JsonElement? OutputSchema = null,
    string? SessionId = null);

/// <param name="Role">system, developer, user, assistant or tool.</param>
public sealed record TurnMessage(string Role, IReadOnlyList<TurnPart> Parts)
{
    public static TurnMessage User(string text) => new("user", [new TextPart(text)]);
}

public abstract record TurnPart;

public sealed record TextPart(string Text) : TurnPart;

/// <param name="Url">An http(s) URL, passed on as it is.</param>
public sealed record ImageUrlPart(string Url) : TurnPart;

/// <param name="MediaType">image/png, image/jpeg, image/gif or image/webp.</param>
public sealed record ImageDataPart(string MediaType, byte[] Data) : TurnPart;

public abstract record TurnEvent;

public sealed record TextDelta(string Text) : TurnEvent;

public sealed record ReasoningDelta(string Text) : TurnEvent;

/// <summary>The CLI's own token counts for the turn so far (the last one reported wins).</summary>
public sealed record UsageReport(TokenUsage Usage) : TurnEvent;

/// <param name="FinishReason">"stop" or "length".</param>
/// <param name="SessionId">Handle to continue this conversation with a later turn.</param>
public sealed record TurnCompleted(string FinishReason, string? SessionId) : TurnEvent;

/// <summary>The last event of a failed turn. After it the stream ends.</summary>
public sealed record TurnFailed(ProviderError Error) : TurnEvent;

/// <summary>
/// A sign of life from the CLI that carries nothing for the caller (a stream event, a retry notice):
/// it keeps a slow turn from counting as a hung one. Not passed on to endpoints.
/// </summary>
public sealed record CliActivity : TurnEvent
{
    public static readonly CliActivity Instance = new();
}

public sealed record TokenUsage(long InputTokens, long OutputTokens, long CachedInputTokens = 0, long ReasoningTokens = 0)
{
    public long TotalTokens => InputTokens + OutputTokens;
}

public enum ProviderErrorKind
{
    /// <summary>The CLI is not installed: 503 provider_unavailable.</summary>
    NotInstalled,

    /// <summary>The CLI is not logged in (upstream 401): 503 provider_not_authenticated, x-should-retry false.</summary>
    NotAuthenticated,

    /// <summary>Too many turns waiting: 429 rate_limit_exceeded with retry-after.</summary>
    Busy,

    /// <summary>The turn ran past its time limit and was interrupted.</summary>
    Timeout,

    /// <summary>The model upstream failed (5xx, overload, ...): 502 server_error.</summary>
    Upstream,

    /// <summary>The CLI died or spoke nonsense mid-turn: 502 server_error.</summary>
    Crashed,

    /// <summary>The CLI refused the input: 400 invalid_request_error.</summary>
    InvalidRequest,

    /// <summary>The model said the prompt is longer than its context window: 400 context_length_exceeded, as OpenAI answers.</summary>
    ContextLengthExceeded,

    /// <summary>The session in <see cref="TurnRequest.SessionId"/> is neither live nor resumable; the caller replays the history in a new session.</summary>
    SessionNotFound,

    /// <summary>The CLI (or its model upstream) does not know the model: 404 model_not_found.</summary>
    ModelNotFound,

    /// <summary>The CLI cannot run the turn safely as configured (codex refused the chat-mode settings): 503 provider_unavailable.</summary>
    Unavailable,

    /// <summary>The CLI sent nothing for too long (first-output or idle-stream timeout) and was stopped: 504 timeout.</summary>
    Stalled,
}

/// <param name="Hint">What the operator should do, e.g. the command to run on the server.</param>
public sealed record ProviderError(ProviderErrorKind Kind, string Message, string? Hint = null, TimeSpan? RetryAfter = null);

public interface ITurnProvider
{
    ProviderKind Kind { get; }

    /// <summary>
    /// Runs one turn. Yields deltas and usage, then exactly one <see cref="TurnCompleted"/> or
    /// <see cref="TurnFailed"/>. Cancelling the token stops the model upstream (interrupts the turn).
    /// Does not throw for provider failures; they arrive as <see cref="TurnFailed"/>.
    /// </summary>
    IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, CancellationToken cancellationToken);

    /// <summary>Forgets a session and frees what it holds (process, thread, scratch directory).</summary>
    ValueTask EndSessionAsync(string sessionId);

    /// <summary>Ends the session and removes the CLI's own transcript of it: the conversation's owner deleted it.</summary>
    ValueTask DeleteSessionAsync(string sessionId) => EndSessionAsync(sessionId);
}
