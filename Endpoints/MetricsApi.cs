using System.Globalization;
using System.Text;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Endpoints;

/// <summary>GET /metrics: the Prometheus text format (0.0.4), for an operator's scraper; admin scope from outside.</summary>
public static class MetricsApi
{
    private const string Prefix = "codex_api_server_";

    public static IEndpointRouteBuilder MapMetricsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/metrics", GetMetrics).RequireScope(RequiredScope.Admin)
            .WithSummary("Prometheus metrics in the text format 0.0.4: requests, latency, time to first token, tokens, turns, CLI processes, tunnel, usage windows")
            .Produces<string>(200, "text/plain");
        return routes;
    }

    private static IResult GetMetrics(ServerMetrics metrics, ProviderRouter router, MemoryBudget memory, TunnelManager tunnel, UsageWindows usage)
    {
        var text = new PrometheusText();
        text.Family("build_info", "gauge", "The server's version; always 1.");
        text.Sample("build_info", 1, ("version", AppInfo.Version));
        text.Family("uptime_seconds", "gauge", "Seconds since the server started.");
        text.Sample("uptime_seconds", HealthApi.Uptime);
        text.Family("resident_memory_bytes", "gauge", "Resident memory of the server process itself (its CLIs are in cli_process_resident_memory_bytes).");
        text.Sample("resident_memory_bytes", Environment.WorkingSet);

        text.Family("requests_total", "counter", "Requests answered, by route pattern, method, status and model (\"\" without one).");
        foreach (var ((route, method, status, model), count) in metrics.Requests.OrderBy(r => r.Key.Route, StringComparer.Ordinal).ThenBy(r => r.Key.Status))
        {
            text.Sample("requests_total", count, ("route", route), ("method", method), ("status", status.ToString(CultureInfo.InvariantCulture)), ("model", model));
        }
        text.Histogram("turn_duration_seconds", "Whole requests that ran a turn, per provider (CLI), from arrival to the last byte.", metrics.Latency, ServerMetrics.LatencyBuckets);
        text.Histogram("time_to_first_token_seconds", "From a turn request's arrival to the model's first output (text, reasoning or a tool call), per provider.", metrics.FirstToken, ServerMetrics.FirstTokenBuckets);
        text.Family("tokens_total", "counter", "Tokens the CLIs reported, per provider, model and direction (input includes cached).");
        foreach (var ((provider, model, direction), count) in metrics.Tokens.OrderBy(t => t.Key.Provider, StringComparer.Ordinal).ThenBy(t => t.Key.Model, StringComparer.Ordinal))
        {
            text.Sample("tokens_total", count, ("provider", provider), ("model", model), ("direction", direction));
        }

        text.Family("turns_running", "gauge", "Turn slots in use per provider: running turns and turns held for tool results.");
        foreach (var kind in Enum.GetValues<ProviderKind>())
        {
            text.Sample("turns_running", router.RunningTurns(kind), ("provider", Name(kind)));
        }
        text.Family("turns_queued", "gauge", "Requests waiting for a turn slot, per provider.");
        foreach (var kind in Enum.GetValues<ProviderKind>())
        {
            text.Sample("turns_queued", router.QueuedTurns(kind), ("provider", Name(kind)));
        }

        var processes = memory.Status();
        text.Family("cli_processes", "gauge", "CLI processes alive, per CLI and role (session, spare, app-server, exec).");
        foreach (var group in processes.Processes.GroupBy(p => (p.Cli, p.Role)).OrderBy(g => g.Key.Cli, StringComparer.Ordinal))
        {
            text.Sample("cli_processes", group.Count(), ("cli", group.Key.Cli), ("role", group.Key.Role));
        }
        text.Family("cli_process_resident_memory_bytes", "gauge", "Resident memory of each CLI process with its children.");
        foreach (var p in processes.Processes)
        {
            text.Sample("cli_process_resident_memory_bytes", Math.Round(p.RssMb * 1024 * 1024), ("cli", p.Cli), ("role", p.Role), ("pid", p.Pid.ToString(CultureInfo.InvariantCulture)));
        }
        text.Family("memory_budget_bytes", "gauge", "memoryBudgetMb: the most memory the CLI processes may hold together.");
        text.Sample("memory_budget_bytes", processes.BudgetMb * 1024 * 1024);

        var t = tunnel.Status;
        text.Family("tunnel_up", "gauge", "1 while the Cloudflare tunnel runs, else 0.");
        text.Sample("tunnel_up", t.State == "running" ? 1 : 0);
        text.Family("tunnel_state", "gauge", "The tunnel's state: 1 for the current one.");
        foreach (var state in new[] { "stopped", "starting", "running", "error" })
        {
            text.Sample("tunnel_state", t.State == state ? 1 : 0, ("state", state));
        }
        text.Family("tunnel_restarts", "gauge", "Times the tunnel was restarted after it failed, since it was started.");
        text.Sample("tunnel_restarts", t.Restarts);

        var windows = usage.Status();
        text.Family("usage_window_used_ratio", "gauge", "How much of a subscription usage window is used, 0..1, per CLI and window (5h, weekly), as the CLI last reported.");
        text.Family("usage_window_resets_at_seconds", "gauge", "When the window resets (Unix seconds).");
        text.Family("usage_window_exhausted", "gauge", "1 when the window is used up: requests for the CLI get 429 until it resets.");
        foreach (var (cli, list) in new[] { ("codex", windows.Codex), ("claude", windows.Claude) })
        {
            foreach (var w in list)
            {
                text.Sample("usage_window_used_ratio", w.UsedPercent / 100, ("cli", cli), ("window", w.Window));
                if (w.ResetsAt is { } resets)
                {
                    text.Sample("usage_window_resets_at_seconds", resets, ("cli", cli), ("window", w.Window));
                }
                text.Sample("usage_window_exhausted", w.Exhausted ? 1 : 0, ("cli", cli), ("window", w.Window));
            }
        }
        return Results.Text(text.ToString(), "text/plain; version=0.0.4; charset=utf-8", Encoding.UTF8);
    }

    private static string Name(ProviderKind kind) => kind == ProviderKind.Claude ? "claude" : "codex";

    /// <summary>Writes the text format: HELP and TYPE once per family, then its samples; label values escaped.</summary>
    private sealed class PrometheusText
    {
        private readonly StringBuilder _text = new();

        public void Family(string name, string type, string help) =>
            _text.Append("# HELP ").Append(Prefix).Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n')
                .Append("# TYPE ").Append(Prefix).Append(name).Append(' ').Append(type).Append('\n');

        public void Sample(string name, double value, params (string Name, string Value)[] labels)
        {
            _text.Append(Prefix).Append(name);
            if (labels.Length > 0)
            {
                _text.Append('{');
                for (var i = 0; i < labels.Length; i++)
                {
                    _text.Append(i == 0 ? "" : ",").Append(labels[i].Name).Append("=\"").Append(Escape(labels[i].Value)).Append('"');
                }
                _text.Append('}');
            }
            _text.Append(' ').Append(Number(value)).Append('\n');
        }

        public void Histogram(string name, string help, IReadOnlyDictionary<string, ServerMetrics.Histogram> byProvider, double[] bounds)
        {
            Family(name, "histogram", help);
            foreach (var (provider, histogram) in byProvider.OrderBy(h => h.Key, StringComparer.Ordinal))
            {
                var (cumulative, sum, count) = histogram.Snapshot();
                for (var i = 0; i < bounds.Length; i++)
                {
                    Sample(name + "_bucket", cumulative[i], ("provider", provider), ("le", Number(bounds[i])));
                }
                Sample(name + "_bucket", count, ("provider", provider), ("le", "+Inf"));
                Sample(name + "_sum", sum, ("provider", provider));
                Sample(name + "_count", count, ("provider", provider));
            }
        }

        public override string ToString() => _text.ToString();

        private static string Escape(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

        private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
    }
}
