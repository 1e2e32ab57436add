using CodexApiServer.Hosting;
using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// Runs one turn for an endpoint, the same way for every wire format: waits for a slot, starts the
/// turn (with its time limit), sends the status and headers on the first event (so a turn that
/// fails before it is still a plain HTTP error), keeps a quiet stream alive, lives on when the client
/// goes away, puts the usage on the request's row, maps a failure to its OpenAI error once, and
/// feeds every event to the wire's <see cref="ITurnEncoder"/>.
/// </summary>
public sealed partial class TurnDriver(ProviderRouter router, StreamingOptions streaming, HeldTurns held, ILogger<TurnDriver> logger)
{
    /// <summary>
    /// Answers one request of a conversation: goes on with <paramref name="resumed"/> (a turn held for the
    /// tool <paramref name="results"/> this request brings) or runs <paramref name="job"/>; a turn that calls
    /// the client's tools again is held for the follow-up of <paramref name="owner"/> (the caller's API key).
    /// </summary>
    public async Task<TurnOutcome> AnswerAsync(TurnJob job, HeldTurn? resumed, IReadOnlyList<ToolResult> results, string? owner, ITurnEncoder encoder,
        HttpContext? http, CancellationToken cancellationToken, Action? onSlot = null, Action<TurnEnded>? onEnded = null)
    {
        var outcome = resumed is not null
            ? await ResumeAsync(resumed, results, encoder, http, job.Stream, cancellationToken, onEnded)
            : await RunAsync(job, encoder, http, cancellationToken, onSlot, onEnded);
        if (outcome.Held is { } next)
        {
            held.Hold(next, owner);
        }
        return outcome;
    }

    /// <param name="http">The request being answered; null for a background turn, which only folds.</param>
    /// <param name="onSlot">Called once the turn has its slot, before it starts.</param>
    /// <param name="onEnded">Called with the end before the stream's last events go out, so a client that has read them finds what was stored.</param>
    /// <param name="cancellationToken">The caller's: when it fires the turn ends as Cancelled.</param>
    public async Task<TurnOutcome> RunAsync(TurnJob job, ITurnEncoder encoder, HttpContext? http, CancellationToken cancellationToken,
        Action? onSlot = null, Action<TurnEnded>? onEnded = null)
    {
        var (lease, busy) = await AcquireAsync(job, cancellationToken);
        if (lease is null)
        {
            var end = busy is null ? new TurnEnded(TurnEndReason.Cancelled) : TurnEnded.Failed(busy);
            return await AnswerAsync(end, null, encoder, http, job.Stream ? Stream(http) : null, onEnded);
        }
        onSlot?.Invoke();
        // The caller is bound while it reads, not for the turn's life: a held turn is answered by another request.
        var run = router.Start(job.Route, job.Request, job.Replay, lease, CancellationToken.None);
        return await DriveAsync(run, job.Route, encoder, http, job.Stream, onEnded, cancellationToken);
    }

    /// <summary>Gives a held turn the client's tool results and answers this request with the rest of the turn (which may hold again).</summary>
    private Task<TurnOutcome> ResumeAsync(HeldTurn held, IReadOnlyList<ToolResult> results, ITurnEncoder encoder, HttpContext? http, bool stream,
        CancellationToken cancellationToken, Action<TurnEnded>? onEnded = null)
    {
        held.Calls.Answer(results);
        return DriveAsync(held.Run, held.Route, encoder, http, stream, onEnded, cancellationToken);
    }

    private async Task<TurnOutcome> DriveAsync(TurnRun run, RoutedModel route, ITurnEncoder encoder, HttpContext? http, bool streamed,
        Action<TurnEnded>? onEnded, CancellationToken cancellationToken)
    {
        var stream = streamed ? Stream(http) : null;
        HeldTurn? held = null;
        try
        {
            TurnEnded end;
            using (run.BindCaller(cancellationToken))
            {
                (end, var calls) = await PumpAsync(run, encoder, stream, http is null ? null : RequestInfo.Of(http));
                if (calls is not null)
                {
                    held = new HeldTurn(run, calls, route);
                }
            }
            if (end.Error is { } logged)
            {
                LogTurnFailed(logger, http?.TraceIdentifier ?? "background", logged.Kind, logged.Message);
            }
            return await AnswerAsync(end, held, encoder, http, stream, onEnded);
        }
        finally
        {
            if (held is null)
            {
                await run.DisposeAsync();
            }
        }
    }

    private static SseResponse? Stream(HttpContext? http) => http is null ? null : new SseResponse(http.Response);

    /// <summary>Puts the usage on the request's row, maps a failure once, and has the encoder close the answer.</summary>
    private static async Task<TurnOutcome> AnswerAsync(TurnEnded end, HeldTurn? held, ITurnEncoder encoder, HttpContext? http, SseResponse? stream, Action<TurnEnded>? onEnded)
    {
        if (http is not null && end.Usage is { } usage)
        {
            var info = RequestInfo.Of(http);
            info.InputTokens = usage.InputTokens;
            info.OutputTokens = usage.OutputTokens;
            info.CachedTokens = usage.CachedInputTokens;
            info.ReasoningTokens = usage.ReasoningTokens;
        }
        var error = end.Error is { } failure ? ProviderErrors.ToApiError(failure) : null;
        // A turn that ends without a word still answers as a stream; one that failed before it began, as an HTTP error.
        if (stream is { Started: false } && end.Reason != TurnEndReason.Failed)
        {
            await OpenAsync(stream, encoder);
        }
        stream?.Hold();
        await encoder.EndAsync(end, error);
        onEnded?.Invoke(end);
        if (stream is not null)
        {
            await stream.ReleaseAsync();
        }
        return new TurnOutcome(end, error, stream?.Started == true, held);
    }

    private async Task<(System.Threading.RateLimiting.RateLimitLease? Lease, ProviderError? Busy)> AcquireAsync(TurnJob job, CancellationToken cancellationToken)
    {
        try
        {
            return await router.AcquireAsync(job.Route, job.Request, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (null, null);
        }
    }

    /// <summary>
    /// Passes the turn's events to the encoder until its end, which it returns; or until the model calls
    /// the client's tools, which ends this answer (ToolCalls) while the turn is held.
    /// </summary>
    private async Task<(TurnEnded End, ToolCallsRequested? Calls)> PumpAsync(TurnRun run, ITurnEncoder encoder, SseResponse? stream, RequestInfo? info)
    {
        var wait = stream is null ? Timeout.InfiniteTimeSpan : streaming.KeepAliveInterval;
        while (true)
        {
            var e = await run.ReadAsync(wait);
            if (e is TurnEnded end)
            {
                return (end, null);
            }
            if (e is UsageReport usage)
            {
                // Not output: it does not start the stream (a turn that fails after it is still a plain HTTP error).
                await encoder.UsageAsync(usage.Usage);
                continue;
            }
            // The stream starts at the first event or the first silence.
            if (stream is { Started: false })
            {
                await OpenAsync(stream, encoder);
            }
            else if (e is null)
            {
                await stream!.KeepAliveAsync();
            }
            if (e is TextDelta or ReasoningDelta or ToolCallsRequested)
            {
                info?.MarkFirstOutput();
            }
            switch (e)
            {
                case TextDelta text:
                    await encoder.TextAsync(text.Text);
                    break;
                case ReasoningDelta reasoning:
                    await encoder.ReasoningAsync(reasoning.Text);
                    break;
                case ToolCallsRequested calls:
                    await encoder.ToolCallsAsync(calls.Calls);
                    return (new TurnEnded(TurnEndReason.ToolCalls, Usage: run.Usage), calls);
            }
        }
    }

    private static Task OpenAsync(SseResponse stream, ITurnEncoder encoder)
    {
        stream.Start();
        return encoder.OpenAsync(stream);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} turn failed: {Kind} {Reason}")]
    private static partial void LogTurnFailed(ILogger logger, string requestId, ProviderErrorKind kind, string reason);
}
