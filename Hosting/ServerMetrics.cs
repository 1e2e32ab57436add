using System.Collections.Concurrent;

namespace CodexApiServer.Hosting;

/// <summary>
/// What /metrics counts from requests as they end (RequestPipeline): requests by route, method, status
/// and model; per provider, the latency and time-to-first-token of turns and their tokens. Gauges
/// (turns running, CLI processes, tunnel, usage windows) are read when /metrics is asked (MetricsApi).
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>Distinct model labels kept; later ones count as "other", so a client sending random names cannot grow the page.</summary>
    public const int MaxModels = 64;

    public static readonly double[] LatencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
    public static readonly double[] FirstTokenBuckets = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly ConcurrentDictionary<(string Route, string Method, int Status, string Model), long> _requests = new();
    private readonly ConcurrentDictionary<(string Provider, string Model, string Direction), long> _tokens = new();
    private readonly ConcurrentDictionary<string, Histogram> _latency = new();
    private readonly ConcurrentDictionary<string, Histogram> _firstToken = new();
    private readonly ConcurrentDictionary<string, byte> _models = new();

    public IReadOnlyDictionary<(string Route, string Method, int Status, string Model), long> Requests => _requests;
    public IReadOnlyDictionary<(string Provider, string Model, string Direction), long> Tokens => _tokens;
    public IReadOnlyDictionary<string, Histogram> Latency => _latency;
    public IReadOnlyDictionary<string, Histogram> FirstToken => _firstToken;

    /// <param name="route">The matched route pattern; null for a request that matched none (counted as "unmatched", never by its path).</param>
    public void Request(string method, string? route, int status, RequestInfo info, double seconds)
    {
        var model = ModelLabel(info.Model);
        _requests.AddOrUpdate((route ?? "unmatched", method, status, model), 1, (_, n) => n + 1);
        if (info.Provider is not { } provider)
        {
            return;
        }
        _latency.GetOrAdd(provider, _ => new Histogram(LatencyBuckets)).Observe(seconds);
        if (info.FirstOutputSeconds is { } first)
        {
            _firstToken.GetOrAdd(provider, _ => new Histogram(FirstTokenBuckets)).Observe(first);
        }
        if (info.InputTokens > 0)
        {
            _tokens.AddOrUpdate((provider, model, "input"), info.InputTokens, (_, n) => n + info.InputTokens);
        }
        if (info.OutputTokens > 0)
        {
            _tokens.AddOrUpdate((provider, model, "output"), info.OutputTokens, (_, n) => n + info.OutputTokens);
        }
    }

    private string ModelLabel(string? model)
    {
        if (model is null)
        {
            return "";
        }
        if (_models.ContainsKey(model) || (_models.Count < MaxModels && _models.TryAdd(model, 0)))
        {
            return model;
        }
        return "other";
    }

    /// <summary>A Prometheus histogram: counts per upper bound (not cumulative here), sum and count.</summary>
    public sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length];
        private double _sum;
        private long _count;

        public IReadOnlyList<double> Bounds => bounds;

        public void Observe(double value)
        {
            lock (_counts)
            {
                var i = Array.FindIndex(bounds, b => value <= b);
                if (i >= 0)
                {
                    _counts[i]++;
                }
                _sum += value;
                _count++;
            }
        }

        /// <summary>Cumulative counts per bound, then the sum and the count (the +Inf bucket).</summary>
        public (long[] Cumulative, double Sum, long Count) Snapshot()
        {
            lock (_counts)
            {
                var cumulative = new long[_counts.Length];
                long running = 0;
                for (var i = 0; i < _counts.Length; i++)
                {
                    cumulative[i] = running += _counts[i];
                }
                return (cumulative, _sum, _count);
            }
        }
    }
}
