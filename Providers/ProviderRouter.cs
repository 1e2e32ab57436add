using System.Threading.Channels;
using System.Threading.RateLimiting;
using CodexApiServer.Endpoints;
using CodexApiServer.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Providers;

/// <summary>Tunables that tests shorten; not in config.json.</summary>
public sealed class StreamingOptions
{
    /// <summary>A `: keep-alive` comment goes out after this much silence on a stream.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a cancelled provider may take to stop before the turn is given up on.</summary>
    public TimeSpan CancelGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Turns waiting for a slot beyond this many get 429 at once.</summary>
    public int MaxQueueLength { get; set; } = 100;
}

public sealed record RoutedModel(ModelEntry Model, ITurnProvider Provider);

/// <summary>
/// Picks the provider for a model and enforces the per-provider limits: a few turns at once, a
/// bounded FIFO queue with a wait limit (429), and a time limit per turn.
/// </summary>
public sealed class ProviderRouter
{
    private readonly Dictionary<ProviderKind, ITurnProvider> _providers;
    private readonly Dictionary<ProviderKind, ConcurrencyLimiter> _limiters = [];
    private readonly ModelCatalog _catalog;
    private readonly CliProbe _probe;
    private readonly StreamingOptions _streaming;
    private readonly ServerSettings _settings;
    private readonly MemoryBudget _budget;

    public ProviderRouter(IEnumerable<ITurnProvider> providers, ModelCatalog catalog, CliProbe probe, ServerSettings settings, StreamingOptions streaming, MemoryBudget budget)
    {
        _budget = budget;
        // The last registration of a kind wins, so a test (or a later AddX) can replace a provider.
        _providers = [];
        foreach (var provider in providers)
        {
            _providers[provider.Kind] = provider;
        }
        _catalog = catalog;
        _probe = probe;
        _streaming = streaming;
        _settings = settings;
        foreach (var kind in Enum.GetValues<ProviderKind>())
        {
            _limiters[kind] = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
            {
                PermitLimit = settings.Config.MaxConcurrentTurns, // a restart changes it
                QueueLimit = streaming.MaxQueueLength,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });
        }
    }

    /// <summary>Ends a stored conversation's CLI session and removes the CLI's transcript of it.</summary>
    /// <param name="provider">As stored with the response: "codex" or "claude".</param>
    public ValueTask DeleteSessionAsync(string provider, string sessionId) =>
        Enum.TryParse<ProviderKind>(provider, ignoreCase: true, out var kind) && _providers.TryGetValue(kind, out var p)
            ? p.DeleteSessionAsync(sessionId)
            : ValueTask.CompletedTask;

    /// <summary>Requests waiting in the queue for a turn slot of <paramref name="kind"/> (tests wait on it).</summary>
    public long QueuedTurns(ProviderKind kind) => _limiters[kind].GetStatistics()?.CurrentQueuedCount ?? 0;

    /// <summary>The model of a request that names none.</summary>
    public string DefaultModel => _settings.Config.DefaultModel;

    public TimeSpan TurnTimeout => TimeSpan.FromSeconds(_settings.Config.TurnTimeoutSeconds);

    /// <summary>How long the CLI may be silent: before its first output, and between outputs after that.</summary>
    private SilenceLimits Silence => new(TimeSpan.FromSeconds(_settings.Config.FirstOutputTimeoutSeconds), TimeSpan.FromSeconds(_settings.Config.IdleStreamTimeoutSeconds));

    /// <summary>The model's provider, or a 400/404/503 to send instead.</summary>
    public (RoutedModel? Route, ApiError? Error) Resolve(string? model)
    {
        if (string.IsNullOrEmpty(model))
        {
            return (null, new ApiError(400, "You must provide a model parameter.", "invalid_request_error", "missing_required_parameter", "model"));
        }
        if (!ModelName.IsValid(model))
        {
            return (null, new ApiError(400, "Invalid model name: use letters, digits, '.', '_', ':' or '-' (at most 64 characters).", "invalid_request_error", "invalid_value", "model"));
        }
        var entry = _catalog.Route(model)!;
        var cli = entry.Provider == ProviderKind.Claude ? "claude" : "codex";
        var status = entry.Provider == ProviderKind.Claude ? _probe.Claude : _probe.Codex;
        // Unknown until the first probe finishes: let the provider find out for itself.
        var notInstalled = status.CheckedAt is not null && !status.Found;
        if (notInstalled || !_providers.TryGetValue(entry.Provider, out var provider))
        {
            return (null, Unavailable(cli));
        }
        return (new RoutedModel(entry, provider), null);
    }

    private static ApiError Unavailable(string cli) =>
        new(503, $"The {cli} CLI is not installed on the server; install it there with: {CliProbe.InstallHint(cli)}", "server_error", "provider_unavailable", NoRetry: true);

    /// <summary>
    /// Waits in the provider's queue for a turn slot and, when the turn needs a new CLI process, for
    /// room in the memory budget; both within queueTimeoutSeconds. The lease holds both.
    /// </summary>
    public async Task<(RateLimitLease? Lease, ApiError? Error)> AcquireAsync(RoutedModel route, TurnRequest request, CancellationToken cancellationToken)
    {
        var kind = route.Model.Provider;
        var limiter = _limiters[kind];
        var config = _settings.Config;
        var cli = kind == ProviderKind.Claude ? "claude" : "codex";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var queueTime = TimeSpan.FromSeconds(config.QueueTimeoutSeconds);
        RateLimitLease slot;
        if (config.QueueTimeoutSeconds == 0)
        {
            slot = limiter.AttemptAcquire();
            if (!slot.IsAcquired)
            {
                return (null, Busy($"All {config.MaxConcurrentTurns} turn slots of {cli} (maxConcurrentTurns) are busy and queueTimeoutSeconds is 0, so nothing waits; retry shortly."));
            }
        }
        else
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(queueTime);
            try
            {
                slot = await limiter.AcquireAsync(1, wait.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (null, Busy($"All {config.MaxConcurrentTurns} turn slots of {cli} (maxConcurrentTurns) stayed busy for the whole {config.QueueTimeoutSeconds} s this request may wait (queueTimeoutSeconds); retry shortly."));
            }
            if (!slot.IsAcquired)
            {
                slot.Dispose();
                return (null, Busy($"The queue for {cli} is full: {config.MaxConcurrentTurns} turns are running (maxConcurrentTurns) and {_streaming.MaxQueueLength} more are waiting; retry shortly."));
            }
        }
        IDisposable? memory = null;
        if (route.Provider is ICliProcessOwner owner && owner.NeedsNewProcess(request))
        {
            try
            {
                memory = await _budget.ReserveAsync(cli, queueTime - clock.Elapsed, cancellationToken);
            }
            catch
            {
                slot.Dispose();
                throw;
            }
            if (memory is null)
            {
                slot.Dispose();
                return (null, Busy($"This turn needs a new {cli} process and it did not fit in the memory budget ({_budget.LimitBytes / (1024 * 1024)} MB, memoryBudgetMb) "
                    + $"within {config.QueueTimeoutSeconds} s (queueTimeoutSeconds): the CLI processes that hold it are all busy; retry shortly."));
            }
        }
        return (new TurnLease(slot, memory, _budget), null);
    }

    private ApiError Busy(string message) => new(429, message, "rate_limit_exceeded", "rate_limit_exceeded",
        RetryAfter: TimeSpan.FromSeconds(Math.Clamp(_settings.Config.QueueTimeoutSeconds / 4, 1, 10)));

    /// <summary>A turn slot and the memory reserved for its new process; ending it wakes turns that wait for memory.</summary>
    private sealed class TurnLease(RateLimitLease slot, IDisposable? memory, MemoryBudget budget) : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => slot.MetadataNames;

        public override bool TryGetMetadata(string metadataName, out object? metadata) => slot.TryGetMetadata(metadataName, out metadata);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                slot.Dispose();
                memory?.Dispose();
                budget.Changed();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>The HTTP shape of a provider failure.</summary>
    public static ApiError MapError(ProviderError error)
    {
        var cli = error.Hint is not null ? " " + error.Hint : "";
        return error.Kind switch
        {
            ProviderErrorKind.NotInstalled or ProviderErrorKind.Unavailable => new(503, error.Message + cli, "server_error", "provider_unavailable", NoRetry: true),
            ProviderErrorKind.NotAuthenticated => new(503, error.Hint is null ? error.Message : $"{error.Message.TrimEnd('.', ' ')}. Run on the server: {error.Hint}",
                "server_error", "provider_not_authenticated", NoRetry: true),
            ProviderErrorKind.Busy => new(429, error.Message, "rate_limit_exceeded", "rate_limit_exceeded", RetryAfter: error.RetryAfter ?? TimeSpan.FromSeconds(2)),
            ProviderErrorKind.InvalidRequest => new(400, error.Message, "invalid_request_error", "invalid_value"),
            ProviderErrorKind.ModelNotFound => new(404, error.Message, "invalid_request_error", "model_not_found", "model"),
            ProviderErrorKind.ContextLengthExceeded => new(400, error.Message, "invalid_request_error", "context_length_exceeded"),
            ProviderErrorKind.Timeout or ProviderErrorKind.Stalled => new(504, error.Message, "server_error", "timeout"),
            _ => new(502, error.Message, "server_error", "server_error"),
        };
    }

    /// <summary>
    /// Starts a turn that holds <paramref name="lease"/> until the provider is done. The turn runs
    /// in the background into a channel, so the caller can send keep-alives while it waits.
    /// </summary>
    /// <param name="replay">The whole history in a fresh session, used once if the session is gone.</param>
    public TurnRun Start(RoutedModel route, TurnRequest request, TurnRequest? replay, RateLimitLease lease, CancellationToken cancellationToken) =>
        new(route.Provider, request, replay, lease, TurnTimeout, Silence, _streaming.CancelGrace, cancellationToken);
}

/// <param name="FirstOutput">Longest wait for the CLI's first sign of life in a turn.</param>
/// <param name="Idle">Longest silence between two signs of life after that.</param>
public readonly record struct SilenceLimits(TimeSpan FirstOutput, TimeSpan Idle);

/// <summary>
/// One running turn. Its events always end with exactly one <see cref="TurnCompleted"/> or
/// <see cref="TurnFailed"/>, whatever the provider does: a turn past its time limit ends as
/// TurnCompleted("length") (an incomplete answer, not an error), a crash or exception as TurnFailed,
/// and a CLI that stays silent past the <see cref="SilenceLimits"/> is stopped (which ends its
/// process or interrupts its thread) and ends as TurnFailed(Stalled): a hung CLI is an error, not a short answer.
/// </summary>
public sealed class TurnRun : IAsyncDisposable
{
    private readonly Channel<TurnEvent> _events = Channel.CreateUnbounded<TurnEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _cts;
    private readonly Task _pump;
    private Task<bool>? _pendingRead;
    private volatile bool _cancelRequested;
    private readonly CancellationToken _callerToken;
    private readonly TimeSpan _cancelGrace;
    private readonly SilenceLimits _silence;
    private volatile string? _stalled;

    internal TurnRun(ITurnProvider provider, TurnRequest request, TurnRequest? replay, RateLimitLease lease, TimeSpan timeout, SilenceLimits silence, TimeSpan cancelGrace, CancellationToken cancellationToken)
    {
        _callerToken = cancellationToken;
        _cancelGrace = cancelGrace;
        _silence = silence;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _cts.CancelAfter(timeout);
        _pump = Task.Run(() => PumpAsync(provider, request, replay, lease, cancellationToken), CancellationToken.None);
    }

    /// <summary>True once the time limit cut the turn short.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>True when the caller's token (client gone, cancel endpoint) stopped the turn.</summary>
    public bool Cancelled { get; private set; }

    /// <summary>The last usage the provider reported.</summary>
    public TokenUsage? Usage { get; private set; }

    /// <summary>Stops the turn now (cancel endpoint).</summary>
    public void Cancel()
    {
        _cancelRequested = true;
        _cts.Cancel();
    }

    /// <summary>The next event, or null if <paramref name="idle"/> passed without one (send a keep-alive). After the terminal event, null forever.</summary>
    public async Task<TurnEvent?> NextAsync(TimeSpan idle)
    {
        if (_events.Reader.TryRead(out var ready))
        {
            return Track(ready);
        }
        // A read that timed out stays pending and is reused, so no event is lost between waits.
        _pendingRead ??= _events.Reader.WaitToReadAsync().AsTask();
        if (idle != Timeout.InfiniteTimeSpan)
        {
            using var delay = new CancellationTokenSource();
            var done = await Task.WhenAny(_pendingRead, Task.Delay(idle, delay.Token));
            await delay.CancelAsync();
            if (done != _pendingRead)
            {
                return null;
            }
        }
        var more = await _pendingRead;
        _pendingRead = null;
        return more && _events.Reader.TryRead(out var next) ? Track(next) : null;
    }

    private TurnEvent Track(TurnEvent e)
    {
        if (e is UsageReport usage)
        {
            Usage = usage.Usage;
        }
        return e;
    }

    private async Task PumpAsync(ITurnProvider provider, TurnRequest request, TurnRequest? replay, RateLimitLease lease, CancellationToken callerToken)
    {
        var writer = _events.Writer;
        try
        {
            var outcome = await RunOnceAsync(provider, request, writer, allowSessionFallback: replay is not null);
            if (outcome == Outcome.SessionGone)
            {
                outcome = await RunOnceAsync(provider, replay!, writer, allowSessionFallback: false);
            }
            if (outcome == Outcome.NoTerminal)
            {
                if (callerToken.IsCancellationRequested || _cancelRequested)
                {
                    Cancelled = true;
                    writer.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed, "The turn was cancelled.")));
                }
                else if (_stalled is { } stalled)
                {
                    writer.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Stalled, stalled)));
                }
                else if (_cts.IsCancellationRequested)
                {
                    TimedOut = true;
                    writer.TryWrite(new TurnCompleted("length", null));
                }
                else
                {
                    writer.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed, "The provider ended the turn without an answer.")));
                }
            }
        }
        catch (Exception e)
        {
            writer.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed, "The provider failed: " + e.GetType().Name)));
        }
        finally
        {
            lease.Dispose();
            writer.TryComplete();
        }
    }

    private enum Outcome
    {
        Terminal,
        NoTerminal,
        SessionGone,
    }

    private async Task<Outcome> RunOnceAsync(ITurnProvider provider, TurnRequest request, ChannelWriter<TurnEvent> writer, bool allowSessionFallback)
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
                var e = enumerator.Current;
                heard = true;
                if (e is CliActivity)
                {
                    continue;
                }
                if (e is TurnFailed { Error.Kind: ProviderErrorKind.SessionNotFound } && !any && allowSessionFallback)
                {
                    return Outcome.SessionGone;
                }
                if (_cts.IsCancellationRequested && e is TurnCompleted or TurnFailed)
                {
                    // The provider reporting its own interruption: who interrupted it decides what it was.
                    if (e is TurnCompleted interrupted && !_cancelRequested && !_callerToken.IsCancellationRequested && _stalled is null)
                    {
                        TimedOut = true;
                        writer.TryWrite(new TurnCompleted("length", interrupted.SessionId));
                        return Outcome.Terminal;
                    }
                    return Outcome.NoTerminal;
                }
                if (e is TurnFailed { Error.Kind: ProviderErrorKind.Timeout })
                {
                    TimedOut = true;
                    writer.TryWrite(new TurnCompleted("length", null));
                    return Outcome.Terminal;
                }
                any |= e is TextDelta or ReasoningDelta;
                writer.TryWrite(e);
                if (e is TurnCompleted or TurnFailed)
                {
                    return Outcome.Terminal;
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
