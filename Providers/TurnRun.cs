using System.Threading.Channels;
using System.Threading.RateLimiting;

namespace CodexApiServer.Providers;

/// <summary>
/// One running turn, supervised. Its events are the provider's deltas and then exactly one
/// <see cref="TurnEnded"/>, whatever the provider does: a turn past its time limit ends as Timeout
/// (an incomplete answer, not an error), a stop by the caller as Cancelled, a crash or exception as
/// Failed, and a CLI that stays silent past the <see cref="SilenceLimits"/> is stopped (which ends its
/// process or interrupts its thread) and ends as Failed(Stalled). A session that is gone is replayed
/// once in a fresh one. Usage reports pass on as they come (a wire that tells the prompt's size up front
/// wants the first), and the last one travels on the TurnEnded.
/// </summary>
public sealed class TurnRun : IAsyncDisposable
{
    private readonly Channel<TurnEvent> _events = Channel.CreateUnbounded<TurnEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _cts;
    private readonly Task _pump;
    private Task<bool>? _pendingRead;
    private readonly TimeSpan _cancelGrace;
    private readonly SilenceLimits _silence;
    private readonly TimeSpan _timeout;
    private readonly System.Diagnostics.Stopwatch _running = System.Diagnostics.Stopwatch.StartNew();
    private readonly bool _parallelToolCalls;
    private volatile bool _callerCancelled;
    private volatile string? _stalled;
    private TokenUsage? _usage;

    /// <param name="replay">The whole history in a fresh session, used once if the session is gone.</param>
    /// <param name="lease">Held until the provider is done, then released.</param>
    /// <param name="cancellationToken">The caller's: cancelling it ends the turn as Cancelled (see also <see cref="BindCaller"/>).</param>
    internal TurnRun(ITurnProvider provider, TurnRequest request, TurnRequest? replay, RateLimitLease lease, TimeSpan timeout, SilenceLimits silence, TimeSpan cancelGrace, CancellationToken cancellationToken)
    {
        _cancelGrace = cancelGrace;
        _silence = silence;
        _timeout = timeout;
        _parallelToolCalls = request.ParallelToolCalls;
        _cts = new CancellationTokenSource(timeout);
        BindCaller(cancellationToken);
        _pump = Task.Run(() => PumpAsync(provider, request, replay, lease), CancellationToken.None);
    }

    /// <summary>
    /// Makes <paramref name="cancellationToken"/> a caller of this turn too: cancelling it ends the turn as
    /// Cancelled. A held turn is answered by a later request, whose own token is bound for as long as it
    /// reads; dispose the registration when it stops.
    /// </summary>
    public CancellationTokenRegistration BindCaller(CancellationToken cancellationToken) => cancellationToken.Register(() =>
    {
        _callerCancelled = true;
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    });

    /// <summary>The last usage the provider reported so far (a held turn's answer carries it).</summary>
    public TokenUsage? Usage => _usage;

    /// <summary>
    /// The next event, or null when <paramref name="wait"/> passed first (time for a keep-alive).
    /// Read until the <see cref="TurnEnded"/>, which always comes; there is nothing after it.
    /// </summary>
    public async Task<TurnEvent?> ReadAsync(TimeSpan wait)
    {
        if (_events.Reader.TryRead(out var ready))
        {
            return ready;
        }
        // A read that timed out stays pending and is reused, so no event is lost between waits.
        _pendingRead ??= _events.Reader.WaitToReadAsync().AsTask();
        if (wait != Timeout.InfiniteTimeSpan)
        {
            using var delay = new CancellationTokenSource();
            var done = await Task.WhenAny(_pendingRead, Task.Delay(wait, delay.Token));
            await delay.CancelAsync();
            if (done != _pendingRead)
            {
                return null;
            }
        }
        var more = await _pendingRead;
        _pendingRead = null;
        return more && _events.Reader.TryRead(out var next) ? next : throw new InvalidOperationException("The turn was read past its end.");
    }

    private async Task PumpAsync(ITurnProvider provider, TurnRequest request, TurnRequest? replay, RateLimitLease lease)
    {
        var writer = _events.Writer;
        try
        {
            var outcome = await RunOnceAsync(provider, request, allowSessionFallback: replay is not null);
            if (outcome == Outcome.SessionGone)
            {
                outcome = await RunOnceAsync(provider, replay!, allowSessionFallback: false);
            }
            if (outcome == Outcome.NoTerminal)
            {
                End(_callerCancelled ? new TurnEnded(TurnEndReason.Cancelled)
                    : _stalled is { } stalled ? TurnEnded.Failed(new ProviderError(ProviderErrorKind.Stalled, stalled))
                    : _cts.IsCancellationRequested ? new TurnEnded(TurnEndReason.Timeout)
                    : TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed, "The provider ended the turn without an answer.")));
            }
        }
        catch (Exception e)
        {
            End(TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed, "The provider failed: " + e.GetType().Name)));
        }
        finally
        {
            lease.Dispose();
            writer.TryComplete();
        }
    }

    private void End(TurnEnded ended) => _events.Writer.TryWrite(ended.Usage is null ? ended with { Usage = _usage } : ended);

    private enum Outcome
    {
        Terminal,
        NoTerminal,
        SessionGone,
    }

    private async Task<Outcome> RunOnceAsync(ITurnProvider provider, TurnRequest request, bool allowSessionFallback)
    {
        var any = false;
        var heard = false;
        var enumerator = provider.RunAsync(request, _cts.Token).GetAsyncEnumerator(_cts.Token);
        var abandoned = false;
        try
        {
            while (true)
            {
                var move = enumerator.MoveNextAsync().AsTask();
                if (_stalled is null && !_cts.IsCancellationRequested && !await WithinSilenceLimitAsync(move, heard ? _silence.Idle : _silence.FirstOutput))
                {
                    var cli = provider.Kind == ProviderKind.Claude ? "claude" : "codex";
                    _stalled = heard
                        ? $"The {cli} CLI went silent for {_silence.Idle.TotalSeconds:0} s in the middle of the answer (idleStreamTimeoutSeconds) and was stopped; retry the request."
                        : $"The {cli} CLI sent nothing for {_silence.FirstOutput.TotalSeconds:0} s (firstOutputTimeoutSeconds) and was stopped; retry the request.";
                    // Cancelling is what ends its process (claude) or interrupts its turn (codex).
                    await _cts.CancelAsync();
                }
                if (!await WithinGraceAsync(move))
                {
                    // The provider ignores cancellation: leave it behind rather than hold the slot and the client forever.
                    abandoned = true;
                    _ = move.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    return Outcome.NoTerminal;
                }
                if (!await move)
                {
                    return Outcome.NoTerminal;
                }
                heard = true;
                switch (enumerator.Current)
                {
                    case CliActivity:
                        continue;
                    case UsageReport usage:
                        _usage = usage.Usage;
                        _events.Writer.TryWrite(usage);
                        continue;
                    case TurnEnded { Error.Kind: ProviderErrorKind.SessionNotFound } when !any && allowSessionFallback:
                        return Outcome.SessionGone;
                    case TurnEnded ended when _cts.IsCancellationRequested:
                        // The provider reporting its own interruption: who interrupted it decides what it was.
                        if (ended.Answered && !_callerCancelled && _stalled is null)
                        {
                            End(new TurnEnded(TurnEndReason.Timeout, ended.SessionId, ended.Usage));
                            return Outcome.Terminal;
                        }
                        return Outcome.NoTerminal;
                    case TurnEnded { Error.Kind: ProviderErrorKind.Timeout } ended:
                        End(new TurnEnded(TurnEndReason.Timeout, Usage: ended.Usage));
                        return Outcome.Terminal;
                    case TurnEnded ended:
                        End(ended);
                        return Outcome.Terminal;
                    case ToolCallsRequested calls:
                        any = true;
                        await HoldAsync(calls);
                        // The model starts again from the results: the first-output limit applies anew.
                        heard = false;
                        break;
                    case var e:
                        any |= e is TextDelta or ReasoningDelta;
                        _events.Writer.TryWrite(e);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
            return Outcome.NoTerminal;
        }
        finally
        {
            if (!abandoned)
            {
                try
                {
                    await enumerator.DisposeAsync();
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    /// <summary>
    /// Passes the calls on and waits for their results, with the turn's clocks stopped: a client running
    /// its tools is neither a hung CLI nor the model's time. With parallel_tool_calls off, only the first
    /// call of a step goes to the client; the model is told the others were refused.
    /// </summary>
    private async Task HoldAsync(ToolCallsRequested calls)
    {
        var asked = _parallelToolCalls || calls.Calls.Count == 1 ? calls : new ToolCallsRequested([calls.Calls[0]]);
        _running.Stop();
        _cts.CancelAfter(Timeout.InfiniteTimeSpan);
        _events.Writer.TryWrite(asked);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (_cts.Token.Register(() => stopped.TrySetResult()))
        {
            await Task.WhenAny(asked.Results, stopped.Task);
        }
        if (asked != calls && asked.Results.IsCompletedSuccessfully)
        {
            var first = asked.Results.Result;
            calls.Answer([.. first, .. calls.Calls.Skip(1).Select(c => new ToolResult(c.Id,
                "Not run: only one tool call per step is allowed here (parallel_tool_calls is false); call it again on its own.", IsError: true))]);
        }
        if (!_cts.IsCancellationRequested)
        {
            _running.Start();
            _cts.CancelAfter(_timeout - _running.Elapsed is { Ticks: > 0 } left ? left : TimeSpan.Zero);
        }
    }

    /// <summary>False when the provider produced nothing within <paramref name="limit"/> (nor was the turn stopped meanwhile).</summary>
    private async Task<bool> WithinSilenceLimitAsync(Task<bool> move, TimeSpan limit)
    {
        if (move.IsCompleted)
        {
            return true;
        }
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var wait = new CancellationTokenSource(limit);
        using (_cts.Token.Register(() => stopped.TrySetResult()))
        using (wait.Token.Register(() => stopped.TrySetResult()))
        {
            await Task.WhenAny(move, stopped.Task);
        }
        return move.IsCompleted || _cts.IsCancellationRequested;
    }

    /// <summary>False when the turn was cancelled and the provider still had not moved after the grace period.</summary>
    private async Task<bool> WithinGraceAsync(Task<bool> move)
    {
        if (move.IsCompleted)
        {
            return true;
        }
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (_cts.Token.Register(() => cancelled.TrySetResult()))
        {
            if (await Task.WhenAny(move, cancelled.Task) == move)
            {
                return true;
            }
        }
        return await Task.WhenAny(move, Task.Delay(_cancelGrace, CancellationToken.None)) == move;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        try
        {
            await _pump;
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
    }
}
