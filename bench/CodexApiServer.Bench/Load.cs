using System.Diagnostics;
using System.Text.Json.Nodes;

namespace CodexApiServer.Bench;

/// <summary>
/// [7] Load through the fake CLIs (tests/CodexApiServer.Tests/Fakes): many concurrent streaming chats,
/// each a new conversation, then 1,000 sequential ones. The server is the binary as a child process, so
/// its RSS is its own. Added latency is each chat's TTFT through the server less the fake CLI's own TTFT
/// driven directly (median of 20, one at a time).
/// </summary>
public static class LoadBench
{
    public static async Task RunAsync(BenchContext b, string[] args)
    {
        int Arg(string name, int fallback) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : fallback;
        var codexConcurrent = Arg("--concurrency", 200);
        // Every new Claude conversation is a process (node, ≈45 MB even for the fake), so fewer at once by default.
        var claudeConcurrent = Arg("--claude-concurrency", 20);
        var sequential = Arg("--sequential", 1000);
        Console.WriteLine($"\n[7] Load through the fake CLIs: {codexConcurrent} concurrent codex chats, {claudeConcurrent} concurrent claude chats, then {sequential} sequential codex chats");
        Console.WriteLine($"  our server: {ServerChild.Describe()}");
        var clock = Stopwatch.StartNew();

        var fakes = Path.Combine(b.RepoRoot, "tests", "CodexApiServer.Tests", "Fakes");
        var wrappers = Tests.Support.TempDir.Create("fake-clis");
        var fakeCodex = Wrapper(wrappers, "codex", Path.Combine(fakes, "fake-codex.mjs"));
        var fakeClaude = Wrapper(wrappers, "claude", Path.Combine(fakes, "fake-claude.mjs"));
        var noEnv = new Dictionary<string, string?>();

        // The fake CLIs' own TTFT, driven directly, one at a time.
        var codexOwn = new List<double>();
        await using (var direct = await CodexDirect.StartAsync(fakeCodex, noEnv))
        {
            for (var i = 0; i < 22; i++)
            {
                var (first, _) = await direct.NewConversationTurnAsync(BenchContext.CodexModel, $"direct {i}", "You are a helpful assistant.");
                if (i >= 2)
                {
                    codexOwn.Add(first);
                }
            }
        }
        var claudeOwn = new List<double>();
        for (var i = 0; i < 12; i++)
        {
            var prestarted = ClaudePrestarted.Start(fakeClaude, BenchContext.ClaudeModel, noEnv);
            await Task.Delay(1000); // loaded, as a server's spare would be
            var (first, _) = await prestarted.TurnAsync($"direct {i}");
            if (i >= 2)
            {
                claudeOwn.Add(first);
            }
        }
        Console.WriteLine($"  the fake CLIs' own TTFT (direct): codex {Chat.Median(codexOwn):0.00} ms, claude {Chat.Median(claudeOwn):0.00} ms (medians)");

        var config = new JsonObject { ["codexPath"] = fakeCodex, ["claudePath"] = fakeClaude, ["maxConcurrentTurns"] = 256 };
        await using var server = await ServerChild.StartAsync(config, noEnv);
        // One of each first, so both CLIs are up (codex app-server started, a claude spare there) before the burst.
        await Chat.StreamAsync(server.Http, Chat.Body(BenchContext.CodexModel, "warm up"));
        await Chat.StreamAsync(server.Http, Chat.Body(BenchContext.ClaudeModel, "warm up"));
        await Task.Delay(1000);
        var idleKb = Tree.RssKb(server.Pid);
        Console.WriteLine($"  server RSS before the load: {BenchContext.Mb(idleKb)}");

        foreach (var (cli, model, n, own) in new[] { ("codex", BenchContext.CodexModel, codexConcurrent, codexOwn), ("claude", BenchContext.ClaudeModel, claudeConcurrent, claudeOwn) })
        {
            if (n == 0)
            {
                continue;
            }
            var ownMs = Chat.Median(own);
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            List<double> firsts;
            List<string> errors;
            double wall;
            long peakServer, peakTree;
            await using (var sampler = new TreeSampler(server.Pid))
            {
                var chats = Chat.ConcurrentAsync(server.Http, Enumerable.Range(0, n).Select(i => Chat.Body(model, $"concurrent chat {cli} {i}")), go.Task);
                var burst = Stopwatch.StartNew();
                go.SetResult();
                (firsts, errors) = await chats;
                wall = burst.Elapsed.TotalMilliseconds;
                await Task.Delay(200);
                peakServer = sampler.PeakRootKb;
                peakTree = sampler.PeakKb;
            }
            var added = firsts.Select(f => f - ownMs).ToList();
            Console.WriteLine($"  {n} concurrent {cli} chats: {firsts.Count} ok, {errors.Count} errors in {wall:0} ms; TTFT p50 {Chat.Percentile(firsts, 50):0.0} ms, p99 {Chat.Percentile(firsts, 99):0.0} ms, max {(firsts.Count > 0 ? firsts.Max() : double.NaN):0.0} ms");
            Console.WriteLine($"    added over the fake's own {ownMs:0.00} ms: p50 {Chat.Percentile(added, 50):0.0} ms, p99 {Chat.Percentile(added, 99):0.0} ms; peak server RSS {BenchContext.Mb(peakServer)}, peak tree RSS {BenchContext.Mb(peakTree)}");
            foreach (var e in errors.Distinct().Take(3))
            {
                Console.WriteLine($"    error: {e}");
            }
            b.Results.Add([$"7 {n} concurrent chats (fake)", cli, $"p50 +{Chat.Percentile(added, 50):0.0} ms, p99 +{Chat.Percentile(added, 99):0.0} ms", $"{ownMs:0.00} ms (fake CLI's own TTFT)", $"{errors.Count} errors", "0 errors", BenchContext.Pass(errors.Count == 0)]);
            b.Results.Add([$"7 {n} concurrent chats (fake)", cli, $"peak server RSS {BenchContext.Mb(peakServer)}", $"{BenchContext.Mb(idleKb)} before", $"+{(peakServer - idleKb) / 1024.0:0.0} MB", "", ""]);
            await Task.Delay(1000);
        }

        if (sequential > 0)
        {
            await SequentialAsync(b, server, sequential);
        }
        Tests.Support.TempDir.Delete(wrappers);
        Console.WriteLine($"  [7] took {clock.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>
    /// Sequential new conversations, and whether the server's RSS is flat at the end. Up to about 500
    /// requests the server's bounded caches fill (SQLite's page caches, the log and metrics buffers, the
    /// GC's heap for this traffic); after that RSS moves by a few MB either way as the GC works (a
    /// 3,000-request run stays within ±2 MB from 600 on). One figure at the end would catch those
    /// moves, so RSS is sampled every 20 requests and the median of the last fifth is compared with the
    /// median of the third fifth: a leak moves the whole last fifth up.
    /// </summary>
    private static async Task SequentialAsync(BenchContext b, ServerChild server, int sequential)
    {
        const int every = 20;
        var samples = new List<(int At, long Kb)>();
        var seqErrors = 0;
        var seqClock = Stopwatch.StartNew();
        for (var i = 1; i <= sequential; i++)
        {
            try
            {
                await Chat.StreamAsync(server.Http, Chat.Body(BenchContext.CodexModel, $"sequential chat {i}"));
            }
            catch (Exception)
            {
                seqErrors++;
            }
            if (i % every == 0)
            {
                samples.Add((i, Tree.RssKb(server.Pid)));
            }
        }
        var seqMs = seqClock.Elapsed.TotalMilliseconds;
        long Median(int fromFifth) => samples.Where(s => s.At > sequential * fromFifth / 5 && s.At <= sequential * (fromFifth + 1) / 5)
            .Select(s => s.Kb).Order().ToList() is { Count: > 0 } window ? window[window.Count / 2] : 0;
        var (third, last) = (Median(2), Median(4));
        var growth = (double)last / Math.Max(1, third);
        var trend = samples.Where(s => s.At % Math.Max(every, sequential / 10) == 0).Select(s => $"{s.At}: {s.Kb / 1024.0:0.0}");
        Console.WriteLine($"  {sequential} sequential codex chats in {seqMs / 1000:0.0} s ({seqMs / sequential:0.0} ms each), {seqErrors} errors; server RSS median of the third fifth {BenchContext.Mb(third)}, of the last fifth {BenchContext.Mb(last)} ({growth:0.00}x)");
        Console.WriteLine($"    server RSS (MB) along the way: {string.Join(", ", trend)}; tree RSS at the end {BenchContext.Mb(Tree.TreeRssKb(server.Pid))}");
        b.Results.Add([$"7 {sequential} sequential chats (fake)", "codex", $"{BenchContext.Mb(last)} (median, last fifth)", $"{BenchContext.Mb(third)} (median, third fifth)", $"{growth:0.00}x, {seqErrors} errors", "≤ 1.05x, 0 errors", BenchContext.Pass(growth <= 1.05 && seqErrors == 0)]);
    }

    /// <summary>An executable that runs a fake CLI script under node, as the tests' FakeCli does.</summary>
    private static string Wrapper(string dir, string name, string script)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, $"#!/bin/sh\nexec node '{script}' \"$@\"\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
