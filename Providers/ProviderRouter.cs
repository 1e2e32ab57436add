using System.Threading.RateLimiting;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers;

/// <summary>
/// Picks the provider for a model and enforces the per-provider limits: a few turns at once, a
/// bounded FIFO queue with a wait limit (429), and a time limit per turn.
/// </summary>
public sealed class ProviderRouter
{
    private readonly Dictionary<ProviderKind, ITurnProvider> _providers;
    private readonly Dictionary<ProviderKind, ConcurrencyLimiter> _limiters = [];
    private readonly int _permits;
    private readonly ModelCatalog _catalog;
    private readonly CliProbe _probe;
    private readonly StreamingOptions _streaming;
    private readonly ServerSettings _settings;
    private readonly MemoryBudget _budget;
    private readonly UsageWindows? _usage;

    public ProviderRouter(IEnumerable<ITurnProvider> providers, ModelCatalog catalog, CliProbe probe, ServerSettings settings, StreamingOptions streaming, MemoryBudget budget, UsageWindows? usage = null)
    {
        _usage = usage;
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
        _permits = settings.Config.MaxConcurrentTurns;
        foreach (var kind in Enum.GetValues<ProviderKind>())
        {
            _limiters[kind] = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
            {
                PermitLimit = _permits, // a restart changes it
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

    /// <summary>Turns of <paramref name="kind"/> holding a slot now.</summary>
    public long RunningTurns(ProviderKind kind) => _permits - (_limiters[kind].GetStatistics()?.CurrentAvailablePermits ?? _permits);

    /// <summary>The model of a request that names none.</summary>
    public string DefaultModel => _settings.Config.DefaultModel;

    public TimeSpan TurnTimeout => TimeSpan.FromSeconds(_settings.Config.TurnTimeoutSeconds);

    /// <summary>How long the CLI may be silent: before its first output, and between outputs after that.</summary>
    private SilenceLimits Silence => new(TimeSpan.FromSeconds(_settings.Config.FirstOutputTimeoutSeconds), TimeSpan.FromSeconds(_settings.Config.IdleStreamTimeoutSeconds));

    /// <summary>The model's provider, or why there is none (its CLI is not installed).</summary>
    /// <param name="model">A valid model name (see <see cref="ModelName.IsValid"/>).</param>
    public (RoutedModel? Route, ProviderError? Error) Resolve(string model)
    {
        var entry = _catalog.Route(model)!;
        var cli = entry.Provider == ProviderKind.Claude ? "claude" : "codex";
        var status = entry.Provider == ProviderKind.Claude ? _probe.Claude : _probe.Codex;
        // Unknown until the first probe finishes: let the provider find out for itself.
        var notInstalled = status.CheckedAt is not null && !status.Found;
        if (notInstalled || !_providers.TryGetValue(entry.Provider, out var provider))
        {
            return (null, new ProviderError(ProviderErrorKind.NotInstalled, $"The {cli} CLI is not installed on the server; install it there with:", CliProbe.InstallHint(cli)));
        }
        // An exhausted usage window answers at once: a turn would only wait for the CLI's own retries and fail.
        if (_usage?.Exhausted(entry.Provider) is { } window)
        {
            var retry = _usage.Until(window);
            var resets = DateTimeOffset.FromUnixTimeSeconds(window.ResetsAt!.Value).ToString("u", System.Globalization.CultureInfo.InvariantCulture);
            return (null, new ProviderError(ProviderErrorKind.UsageLimit,
                $"The {window.Window} usage window of the {cli} subscription is used up ({window.UsedPercent:0} %); it resets at {resets}.", RetryAfter: retry));
        }
        return (new RoutedModel(entry, provider), null);
    }

    /// <summary>
    /// Waits in the provider's queue for a turn slot and, when the turn needs a new CLI process, for
    /// room in the memory budget; both within queueTimeoutSeconds. The lease holds both.
    /// </summary>
    public async Task<(RateLimitLease? Lease, ProviderError? Error)> AcquireAsync(RoutedModel route, TurnRequest request, CancellationToken cancellationToken)
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

    private ProviderError Busy(string message) => new(ProviderErrorKind.Busy, message,
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

    /// <summary>
    /// Starts a turn that holds <paramref name="lease"/> until the provider is done. The turn runs
    /// in the background into a channel, so the caller can send keep-alives while it waits.
    /// </summary>
    /// <param name="replay">The whole history in a fresh session, used once if the session is gone.</param>
    public TurnRun Start(RoutedModel route, TurnRequest request, TurnRequest? replay, RateLimitLease lease, CancellationToken cancellationToken) =>
        new(route.Provider, request, replay, lease, TurnTimeout, Silence, _streaming.CancelGrace, cancellationToken);
}
