using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;

namespace CodexApiServer.Bench;

/// <summary>
/// [6] Our server (the binary, as a child process) against the peer: claude-max-api-proxy 1.0.0
/// (bench/node), which runs `claude -p` for each request, and `codex exec --json` for each request. All
/// on the same mocks, new conversations only, calls 2 s and then 0.3 s apart; plus each side's idle RSS.
/// </summary>
public static class PeerBench
{
    private const string PeerModel = "claude-sonnet-4"; // the proxy's own name for sonnet

    public static async Task RunAsync(BenchContext b)
    {
        var runs = b.Runs ?? 8;
        var proxy = Path.Combine(b.RepoRoot, "bench", "node", "node_modules", "claude-max-api-proxy", "dist", "server", "standalone.js");
        if (!File.Exists(proxy))
        {
            throw new InvalidOperationException($"{proxy} not found: run `(cd bench/node && npm ci --no-audit --no-fund)` once");
        }
        Console.WriteLine($"\n[6] vs the peer: claude-max-api-proxy 1.0.0 (`claude -p` per request) and `codex exec --json` per request; {runs} new conversations per side and spacing");
        Console.WriteLine($"  our server: {ServerChild.Describe()}");
        var clock = Stopwatch.StartNew();

        await using var ours = await ServerChild.StartAsync(b.RealConfig(), b.ServerEnv());
        // The peer finds `claude` on PATH (spawn("claude")): tests/node's, talking to the same mock.
        var peerEnv = new Dictionary<string, string?>(b.ClaudeEnv)
        {
            ["PATH"] = Path.GetDirectoryName(b.Claude) + ":" + Environment.GetEnvironmentVariable("PATH"),
        };
        var port = Chat.FreePort();
        var peerDir = Tests.Support.TempDir.Create("peer");
        var peer = Children.Start("node", [proxy, port.ToString()], peerDir, peerEnv, stdin: false);
        _ = peer.StandardOutput.ReadToEndAsync(); // it logs to stdout too: drained, so it never blocks on a full pipe
        using var peerHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(120) };
        try
        {
            await WaitHealthyAsync(peerHttp, peer);

            // Warm-ups, not counted: one conversation on each CLI through each side.
            await Chat.StreamAsync(ours.Http, Chat.Body(BenchContext.ClaudeModel, "Warm up, claude."));
            await Chat.StreamAsync(ours.Http, Chat.Body(BenchContext.CodexModel, "Warm up, codex."));
            await Chat.StreamAsync(peerHttp, Chat.Body(PeerModel, "Warm up, peer."));
            await FreshCli.CodexExecTimedAsync(b.Codex, BenchContext.CodexModel, "Warm up, exec.", b.CodexEnv);

            // Idle RSS after those: ours holds its server, codex app-server, one claude session and its spare;
            // the peer holds its node process (its claude ended with the request; codex exec keeps nothing).
            await Task.Delay(TimeSpan.FromSeconds(5));
            var oursIdle = Tree.TreeRssKb(ours.Pid);
            var peerIdle = Tree.TreeRssKb(peer.Id);
            Console.WriteLine($"  idle RSS after one conversation per CLI: ours {BenchContext.Mb(oursIdle)} (tree: {string.Join(", ", Tree.Breakdown(ours.Pid).Select(p => $"{Short(p.Command)} {p.RssKb / 1024}"))} MB)");
            Console.WriteLine($"                                           peer {BenchContext.Mb(peerIdle)} (claude-max-api-proxy's node; codex exec: nothing)");

            // Before the spaced calls, so that nothing of theirs (a spare's refill, an exiting claude) is still running.
            var floors = await CliFloorsAsync(b, runs);

            var figures = new Dictionary<(string Side, int Spacing), (List<double> First, List<double> Total)>();
            foreach (var spacing in new[] { 2000, 300 })
            {
                await Task.Delay(TimeSpan.FromSeconds(3)); // the same start for every block: spares refilled, CPU quiet
                foreach (var side in new[] { "ours claude", "peer proxy", "ours codex", "codex exec" })
                {
                    var first = new List<double>();
                    var total = new List<double>();
                    var upstreamBefore = b.ClaudeMock.MessageRequests.Length + b.CodexMock.Requests.Count;
                    for (var i = 0; i < runs; i++)
                    {
                        var prompt = $"Say hello ({side}, {spacing} ms, {i}).";
                        var (f, t) = side switch
                        {
                            "ours claude" => Times(await Chat.StreamAsync(ours.Http, Chat.Body(BenchContext.ClaudeModel, prompt))),
                            "ours codex" => Times(await Chat.StreamAsync(ours.Http, Chat.Body(BenchContext.CodexModel, prompt))),
                            "peer proxy" => Times(await Chat.StreamAsync(peerHttp, Chat.Body(PeerModel, prompt))),
                            _ => await FreshCli.CodexExecTimedAsync(b.Codex, BenchContext.CodexModel, prompt, b.CodexEnv),
                        };
                        first.Add(f);
                        total.Add(t);
                        await Task.Delay(spacing);
                    }
                    if (b.ClaudeMock.MessageRequests.Length + b.CodexMock.Requests.Count - upstreamBefore < runs)
                    {
                        throw new InvalidOperationException($"{side}: fewer model calls reached the mocks than requests were answered");
                    }
                    figures[(side, spacing)] = (first, total);
                    Console.WriteLine($"  {spacing,4} ms apart, {side,-11}: TTFT median {Chat.Median(first),7:0.0} ms [{first.Min():0}..{first.Max():0}], total median {Chat.Median(total),7:0.0} ms");
                    Console.WriteLine($"      TTFT in call order (ms): {string.Join(" ", first.Select(f => f.ToString("0")))}");
                }
            }

            foreach (var (cli, oursSide, peerSide) in new[] { ("claude", "ours claude", "peer proxy"), ("codex", "ours codex", "codex exec") })
            {
                foreach (var spacing in new[] { 2000, 300 })
                {
                    var o = figures[(oursSide, spacing)];
                    var p = figures[(peerSide, spacing)];
                    var ratio = Chat.Median(p.First) / Chat.Median(o.First);
                    b.Results.Add([$"6 TTFT vs peer, {spacing / 1000.0:0.0} s apart", cli, $"{Chat.Median(o.First):0.0} ms", $"{Chat.Median(p.First):0.0} ms ({peerSide})", Faster(ratio), "≥ 8x", BenchContext.Pass(ratio >= 8)]);
                    b.Results.Add([$"6 total vs peer, {spacing / 1000.0:0.0} s apart", cli, $"{Chat.Median(o.Total):0.0} ms", $"{Chat.Median(p.Total):0.0} ms ({peerSide})", Faster(Chat.Median(p.Total) / Chat.Median(o.Total)), "", ""]);
                }
                // No server can answer sooner than the CLI it drives: the peer's TTFT over the CLI's own is the most any could reach.
                var peerSlow = Chat.Median(figures[(peerSide, 2000)].First);
                foreach (var (how, floor) in floors.Where(f => f.Key.Cli == cli).Select(f => (f.Key.How, f.Value)))
                {
                    b.Results.Add([$"6 the CLI's own floor: {how}", cli, $"{floor:0.0} ms", $"{peerSlow:0.0} ms ({peerSide}, 2 s)", $"{peerSlow / floor:0.0}x", "", ""]);
                }
                var slow = Chat.Median(figures[(oursSide, 2000)].First);
                var fast = Chat.Median(figures[(oursSide, 300)].First);
                b.Results.Add(["6 TTFT 0.3 s vs 2 s apart", cli, $"{fast:0.0} ms (0.3 s)", $"{slow:0.0} ms (2 s)", $"{fast / slow:0.00}x", "≤ 1.5x", BenchContext.Pass(fast / slow <= 1.5)]);
            }
            b.Results.Add(["6 idle RSS after 1 chat/CLI", "both", BenchContext.Mb(oursIdle), $"{BenchContext.Mb(peerIdle)} (proxy)", $"{(double)oursIdle / Math.Max(1, peerIdle):0.0}x the peer's", "", ""]);
        }
        finally
        {
            Children.End(peer);
            Tests.Support.TempDir.Delete(peerDir);
        }
        Console.WriteLine($"  [6] took {clock.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>
    /// Each CLI driven directly, without our server, the ways the server keeps it ready for a new conversation:
    /// claude started ahead and warmed with the blank prompt (a spare), and claude after a whole turn, rewound
    /// (a finished one-off conversation's process, README: Warm spares); codex on a thread started ahead in a
    /// warm app-server. The median TTFT of <paramref name="runs"/> new conversations, 1–2 s apart.
    /// </summary>
    private static async Task<Dictionary<(string Cli, string How), double>> CliFloorsAsync(BenchContext b, int runs)
    {
        var claude = new List<double>();
        var rewound = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var prestarted = ClaudePrestarted.Start(b.Claude, BenchContext.ClaudeModel, ClaudeArgs.ChatEnvironment(b.ClaudeEnv));
            await prestarted.WarmUpAsync();
            // As old as a spare the server took 2 s after the last conversation: claude goes on starting for a while after its first answer.
            await Task.Delay(2000);
            claude.Add((await prestarted.TurnAsync($"Say hello (claude direct, {i}).")).FirstMs);

            var used = ClaudePrestarted.Start(b.Claude, BenchContext.ClaudeModel, ClaudeArgs.ChatEnvironment(b.ClaudeEnv));
            await used.WarmUpAsync();
            var uuid = Guid.NewGuid().ToString();
            await used.TurnAsync($"An earlier one-off conversation ({i}).", keep: true, uuid: uuid);
            await Task.Delay(2000);
            await used.RewindAsync(uuid);
            rewound.Add((await used.TurnAsync($"Say hello (claude direct, rewound, {i}).")).FirstMs);
        }
        var codex = new List<double>();
        await using (var direct = await CodexDirect.StartAsync(b.Codex, b.CodexEnv))
        {
            await direct.NewConversationTurnAsync(BenchContext.CodexModel, "Warm up, direct.", "You are a helpful assistant.");
            for (var i = 0; i < runs; i++)
            {
                await Task.Delay(1000);
                codex.Add((await direct.NewConversationTurnAsync(BenchContext.CodexModel, $"Say hello (codex direct, {i}).", "You are a helpful assistant.")).FirstMs);
            }
        }
        Console.WriteLine($"  the CLIs' own floor, driven directly (warm, 1-2 s apart): claude TTFT median {Chat.Median(claude):0.0} ms [{string.Join(" ", claude.Select(f => f.ToString("0")))}], claude rewound after a turn {Chat.Median(rewound):0.0} ms [{string.Join(" ", rewound.Select(f => f.ToString("0")))}], codex {Chat.Median(codex):0.0} ms [{string.Join(" ", codex.Select(f => f.ToString("0")))}]");
        return new()
        {
            [("claude", "a fresh spare (direct)")] = Chat.Median(claude),
            [("claude", "a used process rewound (direct)")] = Chat.Median(rewound),
            [("codex", "a thread started ahead (direct)")] = Chat.Median(codex),
        };
    }

    private static string Faster(double ratio) => ratio >= 1 ? $"{ratio:0.0}x faster" : $"{1 / ratio:0.0}x slower";

    private static (double, double) Times((double First, double Total, string Text, string? RequestId) r) => (r.First, r.Total);

    private static string Short(string command)
    {
        var parts = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var name = parts.Length == 0 ? "?" : Path.GetFileName(parts[0]);
        // node's own name says nothing: the script it runs does.
        return name == "node" && parts.Length > 1 ? "node " + Path.GetFileName(parts[1]) : name;
    }

    public static string ShortCommand(string command) => Short(command);

    private static async Task WaitHealthyAsync(HttpClient http, Process process)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the peer exited: {Children.StderrTail(process)}");
            }
            try
            {
                using var r = await http.GetAsync("/health");
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("the peer did not answer /health in 30 s: " + Children.StderrTail(process));
    }
}
