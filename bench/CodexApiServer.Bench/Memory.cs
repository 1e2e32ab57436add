using System.Diagnostics;
using System.Text.Json.Nodes;

namespace CodexApiServer.Bench;

/// <summary>
/// [8] Memory of the whole process tree (the server and all its descendants, summed from /proc): at idle
/// after one chat on each CLI on a fresh data dir, and at its peak (sampled every ~100 ms) during a burst of
/// 30 new Claude conversations with memoryBudgetMb 1024. The server is the binary as a child process.
/// </summary>
public static class MemoryBench
{
    private const int BudgetMb = 1024;

    public static async Task RunAsync(BenchContext b)
    {
        var burst = b.Runs ?? 30;
        Console.WriteLine($"\n[8] Process-tree RSS: idle after one chat per CLI (fresh data dir), and the peak of a burst of {burst} new Claude conversations (memoryBudgetMb {BudgetMb})");
        Console.WriteLine($"  our server: {ServerChild.Describe()}");
        var clock = Stopwatch.StartNew();

        // maxConcurrentTurns 32: the budget, not the turn limit, is what holds the burst back.
        await using var server = await ServerChild.StartAsync(b.RealConfig(new JsonObject { ["memoryBudgetMb"] = BudgetMb, ["maxConcurrentTurns"] = 32 }), b.ServerEnv());
        await Task.Delay(TimeSpan.FromSeconds(3)); // whatever it starts on its own (warm start) gets going
        var atStart = Tree.TreeRssKb(server.Pid);
        await Chat.StreamAsync(server.Http, Chat.Body(BenchContext.CodexModel, "One chat on codex."));
        await Chat.StreamAsync(server.Http, Chat.Body(BenchContext.ClaudeModel, "One chat on claude."));
        await Task.Delay(TimeSpan.FromSeconds(10)); // spares loaded, everything settled
        var idle = Tree.TreeRssKb(server.Pid);
        Console.WriteLine($"  tree RSS at start (3 s, before any request): {BenchContext.Mb(atStart)}");
        Console.WriteLine($"  tree RSS idle after one chat per CLI (10 s after): {BenchContext.Mb(idle)}");
        foreach (var (pid, kb, command) in Tree.Breakdown(server.Pid))
        {
            Console.WriteLine($"    {pid,8} {kb / 1024.0,7:0.0} MB  {command}");
        }
        b.Results.Add(["8 idle tree RSS, 1 chat/CLI", "both", BenchContext.Mb(idle), "590 MB (issue 15, before)", $"{Tree.Breakdown(server.Pid).Count()} processes", "≤ 420 MB", BenchContext.Pass(idle <= 420 * 1024)]);

        List<double> firsts;
        List<string> errors;
        var burstClock = Stopwatch.StartNew();
        long peak, peakServer;
        int samples;
        await using (var sampler = new TreeSampler(server.Pid))
        {
            (firsts, errors) = await Chat.ConcurrentAsync(server.Http, Enumerable.Range(0, burst).Select(i => Chat.Body(BenchContext.ClaudeModel, $"Burst conversation {i}.")));
            await Task.Delay(TimeSpan.FromSeconds(3)); // the spares refilled after the burst count too
            peak = sampler.PeakKb;
            peakServer = sampler.PeakRootKb;
            samples = sampler.Samples;
        }
        var after = Tree.TreeRssKb(server.Pid);
        Console.WriteLine($"  burst of {burst}: {firsts.Count} ok, {errors.Count} errors in {burstClock.Elapsed.TotalSeconds:0.0} s; TTFT p50 {Chat.Percentile(firsts, 50):0} ms, max {(firsts.Count > 0 ? firsts.Max() : 0):0} ms");
        Console.WriteLine($"  peak tree RSS {BenchContext.Mb(peak)} (server alone {BenchContext.Mb(peakServer)}) over {samples} samples; {BenchContext.Mb(after)} 3 s after");
        foreach (var e in errors.Distinct().Take(3))
        {
            Console.WriteLine($"    error: {e}");
        }
        b.Results.Add([$"8 peak tree RSS, {burst} claude chats", "claude", BenchContext.Mb(peak), $"{BudgetMb} MB budget", $"{firsts.Count} ok, {errors.Count} errors", $"≤ {BudgetMb} MB", BenchContext.Pass(peak <= BudgetMb * 1024L)]);
        Console.WriteLine($"  [8] took {clock.Elapsed.TotalSeconds:0} s");
    }
}
