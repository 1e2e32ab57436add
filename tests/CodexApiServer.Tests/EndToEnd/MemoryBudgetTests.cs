using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Providers;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>memoryBudgetMb with the real claude: many new conversations never hold more than the budget.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class MemoryBudgetTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Model = RealStackFixture.ClaudeModel;

    [Fact(Timeout = 240_000)]
    public async Task A_burst_of_20_new_claude_conversations_stays_within_the_budget_and_every_one_succeeds()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(extraConfig: """{"memoryBudgetMb": 1024, "queueTimeoutSeconds": 180}""");
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(() => SampleAsync(server, sampling.Token));

        // Each with its own system prompt: each leaves a spare behind when memory allows one.
        var clock = Stopwatch.StartNew();
        var burst = Enumerable.Range(0, 20).Select(async i =>
        {
            var (response, body) = await server.PostJsonAsync("/v1/chat/completions",
                Wire.Chat(Model, stream: false, ("system", $"You are assistant number {i}."), ("user", $"Conversation {i}: hello")));
            return (i, Status: (int)response.StatusCode, Body: body);
        }).ToList();
        var results = await Task.WhenAll(burst);
        var elapsed = clock.Elapsed;
        var health = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["memory"]!;
        await sampling.CancelAsync();
        var (peak, samples) = await sampler;

        Assert.All(results, r =>
        {
            Assert.True(r.Status == 200, $"conversation {r.i}: {r.Status} {r.Body.ToJsonString()}");
            Assert.Equal(RealStackFixture.Text, (string?)r.Body["choices"]![0]!["message"]!["content"]);
        });
        output.WriteLine($"20 conversations in {elapsed.TotalSeconds:0.0} s; {server.Claude.StartedPids.Count} claude processes started; peak {peak / 1048576.0:0} MB of the children in {samples} samples");
        output.WriteLine(health.ToJsonString());
        Assert.True(samples > 20, $"only {samples} samples");
        Assert.True(peak <= 1024L * 1024 * 1024, $"the children held {peak / 1048576.0:0} MB at the peak, over the 1024 MB budget");
        // More processes ran than fit at once: idle ones were ended to make room.
        Assert.True(server.Claude.StartedPids.Count >= 20);

        Assert.Equal(1024, (long)health["budget_mb"]!);
        var processes = health["processes"]!.AsArray();
        Assert.NotEmpty(processes);
        Assert.All(processes, p =>
        {
            Assert.Equal("claude", (string?)p!["cli"]);
            Assert.Contains((string?)p["role"], new[] { "session", "spare" });
            Assert.True((double)p["rss_mb"]! > 10, p.ToJsonString());
            Assert.True(ClaudeTestHarness.IsAlive((int)p["pid"]!));
        });
        Assert.InRange((double)health["used_mb"]!, 10, 1024);
    }

    [Fact(Timeout = 120_000)]
    public async Task An_idle_session_ended_for_memory_resumes_with_its_history()
    {
        stack.ResetMocks();
        // Room for one claude process: each new conversation ends the other's idle process.
        await using var server = await stack.StartServerAsync(extraConfig: """{"memoryBudgetMb": 256}""");
        var (first, firstBody) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, stream: false, ("user", "Remember the word kumquat.")));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var answer = (string)firstBody["choices"]![0]!["message"]!["content"]!;
        var firstPid = Assert.Single(server.Claude.StartedPids);

        var (other, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, stream: false, ("user", "Another conversation.")));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(firstPid), TimeSpan.FromSeconds(5)), "the first conversation's idle process was not ended");

        var before = server.Claude.StartedPids.Count;
        var (next, nextBody) = await server.PostJsonAsync("/v1/chat/completions",
            Wire.Chat(Model, stream: false, ("user", "Remember the word kumquat."), ("assistant", answer), ("user", "Which word?")));

        Assert.True(next.StatusCode == HttpStatusCode.OK, nextBody.ToJsonString());
        // Continued in a new process with --resume, and the model saw the first turn.
        var resumed = server.Claude.StartedPids.Skip(before).Select(Processes.CommandLine).Where(c => c is not null).ToList();
        Assert.Contains(resumed, c => c!.Contains("--resume", StringComparison.Ordinal));
        Assert.Equal(["Remember the word kumquat.", "Which word?"], Upstream.UserTexts(stack, Model));
        var turns = Upstream.Turns(stack, Model);
        Assert.Contains(turns, t => t.Role == "assistant" && t.Text == answer);
    }

    [Fact(Timeout = 120_000)]
    public async Task To_make_room_a_spare_ends_first_then_the_least_recently_used_idle_session()
    {
        stack.ResetMocks();
        // Room for three claude processes (~200-240 MB each), not four.
        await using var server = await stack.StartServerAsync(extraConfig: """{"memoryBudgetMb": 720}""");
        // Two conversations as A: a key seen twice keeps a spare; the budget has room for one.
        Assert.Equal(HttpStatusCode.OK, (await Chat(server, "A")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Chat(server, "A", "Hello again, A.")).StatusCode);
        var afterA = await Processes.ListedAsync(server.Client, list => list.Count == 3);
        var a = server.Claude.StartedPids[0];
        var a2 = server.Claude.StartedPids[1];
        var spare = afterA.Single(p => p.Role == "spare").Pid;

        Assert.Equal(HttpStatusCode.OK, (await Chat(server, "B")).StatusCode);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(spare), TimeSpan.FromSeconds(5)), "the spare was not the first to go");
        Assert.True(ClaudeTestHarness.IsAlive(a) && ClaudeTestHarness.IsAlive(a2), "an idle session ended while a spare could go");
        var b = (await Processes.ListedAsync(server.Client, list => list.Count == 3)).Single(p => p.Pid != a && p.Pid != a2).Pid;

        Assert.Equal(HttpStatusCode.OK, (await Chat(server, "C")).StatusCode);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(a), TimeSpan.FromSeconds(5)), "the least recently used session did not go");
        Assert.True(ClaudeTestHarness.IsAlive(a2) && ClaudeTestHarness.IsAlive(b), "a more recently used session ended");
    }

    private static async Task<HttpResponseMessage> Chat(RealStackServer server, string name, string? text = null) =>
        (await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, stream: false, ("system", $"You are {name}."), ("user", text ?? $"Hello, {name}.")))).Response;

    /// <summary>The largest sum of VmRSS over every live process the server's providers started (with their descendants).</summary>
    private static async Task<(long Peak, int Samples)> SampleAsync(RealStackServer server, CancellationToken cancellationToken)
    {
        var peak = 0L;
        var samples = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var sum = server.ProviderProcessTree().Sum(Rss);
            peak = Math.Max(peak, sum);
            samples++;
            try
            {
                await Task.Delay(50, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (peak, samples);
    }

    private static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
