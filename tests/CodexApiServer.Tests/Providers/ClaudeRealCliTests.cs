using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Children;
using CodexApiServer.Providers;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>The real `claude` (pinned in tests/node) end to end against a mock Anthropic upstream on loopback.</summary>
public sealed class ClaudeRealCliTests(ITestOutputHelper output)
{
    [Fact(Timeout = 60_000)]
    public async Task Streams_several_deltas_with_multibyte_text_intact_and_exact_usage()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        upstream.Reply = _ => new MockReply(["こんにちは", "、世界", " 😀🎉", " — done"], InputTokens: 21, OutputTokens: 9, CacheReadTokens: 4);
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);

        var result = await h.RunAsync(ClaudeTestHarness.Request("Say hello in Japanese"));

        Assert.Equal("こんにちは、世界 😀🎉 — done", result.Text);
        Assert.True(result.TextDeltaCount >= 2, result.Describe());
        Assert.Equal(new TokenUsage(21 + 4, 9, 4), result.Usage);
        Assert.Equal(TurnEndReason.Stop, result.Completed?.Reason);
        var request = Assert.Single(upstream.MessageRequests);
        Assert.Contains("Say hello in Japanese", request.Body, StringComparison.Ordinal);
        Assert.Contains("beta=true", request.Path, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Second_turn_reuses_the_warm_process_and_upstream_sees_the_first_turn()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        var turn = 0;
        upstream.Reply = _ => MockReply.Text(Interlocked.Increment(ref turn) == 1 ? "Nice to meet you, Ada." : "Your name is Ada.");
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);

        var first = await h.RunAsync(ClaudeTestHarness.Request("My name is Ada."));
        var second = await h.RunAsync(ClaudeTestHarness.Request("What is my name?", first.Completed!.SessionId));

        Assert.Equal("Your name is Ada.", second.Text);
        Assert.Single(h.Provider.StartedPids);
        Assert.Equal(first.Completed.SessionId, second.Completed?.SessionId);
        output.WriteLine($"second turn on the warm process: first token after {second.FirstTextAfter?.TotalMilliseconds:0} ms");
        var messages = upstream.MessageRequests[^1].Json["messages"]!.AsArray();
        var roles = messages.Select(m => m!["role"]!.GetValue<string>()).ToArray();
        Assert.Equal(["user", "assistant", "user"], roles);
        Assert.Contains("My name is Ada.", messages[0]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("Nice to meet you, Ada.", messages[1]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 90_000)]
    public async Task New_conversation_on_a_prestarted_process_gets_its_first_token_sooner_than_cold()
    {
        // Medians of three on each side: the suite runs other classes in parallel, and a single
        // sample can land on a busy moment (it did once: pooled 744 ms against cold 370 ms).
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var cold = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        await using var pool = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1);
        // A key seen twice keeps a spare (one seen once keeps none).
        Assert.NotNull((await pool.RunAsync(ClaudeTestHarness.Request("fills the pool"))).Completed);
        Assert.NotNull((await pool.RunAsync(ClaudeTestHarness.Request("fills the pool again"))).Completed);
        var coldTimes = new List<TimeSpan>();
        var pooledTimes = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            var c = await cold.RunAsync(ClaudeTestHarness.Request("cold " + i));
            Assert.Equal("Hello from the mock.", c.Text);
            coldTimes.Add(c.FirstTextAfter!.Value);

            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => pool.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
            // The spare has loaded, as it would have between real requests.
            await Processes.AssertSpareLoadedAsync(pool.Provider.StartedPids);
            var startedBefore = pool.Provider.StartedPids.Count;
            var p = await pool.RunAsync(ClaudeTestHarness.Request("pooled " + i));
            Assert.Equal("Hello from the mock.", p.Text);
            Assert.Contains(pool.Provider.PidOf(p.Completed!.SessionId!)!.Value, pool.Provider.StartedPids.Take(startedBefore));
            pooledTimes.Add(p.FirstTextAfter!.Value);
        }
        var coldMedian = coldTimes.Order().ElementAt(1);
        var pooledMedian = pooledTimes.Order().ElementAt(1);
        output.WriteLine($"time to first token: cold {string.Join(" ", coldTimes.Select(t => $"{t.TotalMilliseconds:0}"))} ms, pooled {string.Join(" ", pooledTimes.Select(t => $"{t.TotalMilliseconds:0}"))} ms");
        Assert.True(pooledMedian < coldMedian, $"pooled median {pooledMedian} vs cold median {coldMedian}");
    }

    [Fact(Timeout = 60_000)]
    public async Task Cancelling_closes_the_upstream_connection_within_2_seconds()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        upstream.Reply = _ => new MockReply(["first ", "never"], HangAfter: 1);
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        using var cts = new CancellationTokenSource();
        TimeSpan cancelledAt = default;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var ev in h.Provider.RunAsync(ClaudeTestHarness.Request("go"), cts.Token))
            {
                if (ev is TextDelta)
                {
                    cancelledAt = upstream.Now;
                    await cts.CancelAsync();
                }
            }
        });

        var request = Assert.Single(upstream.MessageRequests);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => request.AbortedAt is not null, TimeSpan.FromSeconds(2)), "upstream connection still open 2 s after cancel");
        output.WriteLine($"upstream connection closed {(request.AbortedAt!.Value - cancelledAt).TotalMilliseconds:0} ms after cancel");
        var pid = Assert.Single(h.Provider.StartedPids);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(2)));
    }

    [Fact(Timeout = 60_000)]
    public async Task Upstream_401_is_NotAuthenticated_in_under_3_seconds()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1, maxRetries: 10);
        // Two first conversations leave a started spare, as on a server that has been running; one goes on,
        // so the next new conversation takes that spare (not a finished one-off's process, README: Warm spares).
        var first = await h.RunAsync(ClaudeTestHarness.Request("warm up"));
        await h.RunAsync(ClaudeTestHarness.Request("and on", first.Completed!.SessionId));
        var again = await h.RunAsync(ClaudeTestHarness.Request("warm up again"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        await Processes.AssertSpareLoadedAsync(h.Provider.StartedPids);
        var spare = h.SpareBesides([first, again]);
        upstream.Reply = _ => MockReply.Error(401);
        var before = upstream.MessageRequests.Length;

        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        var failedAt = upstream.Now;

        Assert.Equal(ProviderErrorKind.NotAuthenticated, result.Error?.Kind);
        Assert.Contains("/login", result.Error!.Hint, StringComparison.Ordinal);
        var first401 = upstream.MessageRequests[before].ReceivedAt;
        output.WriteLine($"401 → NotAuthenticated after {result.Elapsed.TotalMilliseconds:0} ms ({(failedAt - first401).TotalMilliseconds:0} ms after the first 401; {upstream.MessageRequests.Length - before} upstream attempts of 11 allowed)");
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(3), $"took {result.Elapsed}");
        Assert.True(failedAt - first401 < TimeSpan.FromSeconds(2));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(spare), TimeSpan.FromSeconds(2)));
    }

    [Fact(Timeout = 60_000)]
    public async Task No_credentials_at_all_is_NotAuthenticated_in_under_3_seconds()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1, apiKey: null);

        var cold = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        // The key's second conversation (cold too) has a spare started for the next.
        Assert.Equal(ProviderErrorKind.NotAuthenticated, (await h.RunAsync(ClaudeTestHarness.Request("hi"))).Error?.Kind);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        await Processes.AssertSpareLoadedAsync(h.Provider.StartedPids);
        var pooled = await h.RunAsync(ClaudeTestHarness.Request("hi"));

        foreach (var result in new[] { cold, pooled })
        {
            Assert.Equal(ProviderErrorKind.NotAuthenticated, result.Error?.Kind);
            Assert.Equal("claude, then /login", result.Error!.Hint);
        }
        output.WriteLine($"no credentials → NotAuthenticated after {cold.Elapsed.TotalMilliseconds:0} ms cold, {pooled.Elapsed.TotalMilliseconds:0} ms on a started process: {pooled.Error!.Message}");
        Assert.True(pooled.Elapsed < TimeSpan.FromSeconds(3), $"took {pooled.Elapsed}");
        Assert.True(cold.Elapsed < TimeSpan.FromSeconds(10), $"took {cold.Elapsed}");
        Assert.Empty(upstream.MessageRequests);
    }

    [Fact(Timeout = 60_000)]
    public async Task Upstream_500_is_Upstream_after_bounded_retries()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        upstream.Reply = _ => MockReply.Error(500);
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0, maxRetries: 1);

        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));

        Assert.Equal(ProviderErrorKind.Upstream, result.Error?.Kind);
        output.WriteLine($"500 → Upstream after {result.Elapsed.TotalMilliseconds:0} ms, {upstream.MessageRequests.Length} upstream attempts: {result.Error!.Message}");
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(20), $"took {result.Elapsed}");
        Assert.True(upstream.MessageRequests.Length >= 2, "the CLI did not retry");

        upstream.Reply = _ => MockReply.Text("recovered");
        var next = await h.RunAsync(ClaudeTestHarness.Request("hi again"));
        Assert.Equal("recovered", next.Text);
    }

    [Fact(Timeout = 90_000)]
    public async Task Three_concurrent_turns_complete()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        upstream.Reply = r => MockReply.Text("echo:", r.Body.Contains("alpha", StringComparison.Ordinal) ? "alpha" : r.Body.Contains("beta", StringComparison.Ordinal) ? "beta" : "gamma");
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);

        var results = await Task.WhenAll(
            h.RunAsync(ClaudeTestHarness.Request("alpha")),
            h.RunAsync(ClaudeTestHarness.Request("beta")),
            h.RunAsync(ClaudeTestHarness.Request("gamma")));

        Assert.Equal(["echo:alpha", "echo:beta", "echo:gamma"], results.Select(r => r.Text));
        Assert.Equal(3, results.Select(r => r.Completed!.SessionId).Distinct().Count());
    }

    [Fact(Timeout = 90_000)]
    public async Task Chat_mode_request_has_no_tools_no_prompt_of_ours_and_stays_under_2_KB()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        var chat = await h.RunAsync(ClaudeTestHarness.Request("hi", instructions: null));
        Assert.Equal("Hello from the mock.", chat.Text);
        var chatRequest = Assert.Single(upstream.MessageRequests);
        var tools = chatRequest.Json["tools"];
        Assert.True(tools is null || tools.AsArray().Count == 0, $"tools sent: {tools?.ToJsonString().Length} chars");

        // The same CLI with its default system prompt and tools, as the original product ran it.
        var defaults = await RunCliWithDefaultsAsync(upstream, h);
        output.WriteLine($"upstream request body: chat mode {chatRequest.Bytes} bytes, CLI defaults {defaults.Bytes} bytes ({defaults.Json["tools"]?.AsArray().Count ?? 0} tools)");
        Assert.True(chatRequest.Bytes < 2048, $"chat request is {chatRequest.Bytes} bytes");
        Assert.True(defaults.Bytes > 20 * chatRequest.Bytes);
        Assert.DoesNotContain("<total_tokens>", chatRequest.Body, StringComparison.Ordinal);
        // No instructions, no system prompt of ours: what is left is claude's own billing line and identity.
        var system = chatRequest.Json["system"]!.AsArray().Select(b => (string)b!["text"]!).ToList();
        Assert.Equal(2, system.Count);
        Assert.StartsWith("x-anthropic-billing-header", system[0]);
        Assert.Contains("Claude Agent SDK", system[1]);
    }

    [Fact(Timeout = 60_000)]
    public async Task Output_schema_answer_is_the_structured_json_only()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        upstream.Reply = r =>
        {
            Assert.Contains("StructuredOutput", r.Json["tools"]!.ToJsonString(), StringComparison.Ordinal);
            return r.Body.Contains("tool_result", StringComparison.Ordinal)
                ? MockReply.Text("Done.")
                : MockReply.ToolUse("StructuredOutput", """{"city":"Paris","temp":21}""") with { Chunks = ["Let me answer. "] };
        };
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        var schema = System.Text.Json.JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"},"temp":{"type":"number"}},"required":["city","temp"]}""").RootElement;

        var result = await h.RunAsync(new TurnRequest(ClaudeTestHarness.Model(), null, [TurnMessage.User("Weather in Paris?")], OutputSchema: schema));

        Assert.Equal(TurnEndReason.Stop, result.Completed?.Reason);
        var answer = JsonNode.Parse(result.Text)!;
        Assert.Equal("Paris", answer["city"]!.GetValue<string>());
        Assert.Equal(21, answer["temp"]!.GetValue<int>());
    }

    [Fact(Timeout = 90_000)]
    public async Task A_spare_s_blank_prompt_warm_up_sends_nothing_upstream_and_leaves_no_trace_in_the_conversation()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var cold = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);
        await using var pool = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1);
        // A key seen twice keeps a spare; it is sent the blank prompt as soon as it starts. One conversation
        // goes on, so the next new one takes the spare (not a finished one-off's process, README: Warm spares).
        var filled = await pool.RunAsync(ClaudeTestHarness.Request("fills the pool", instructions: null));
        Assert.NotNull((await pool.RunAsync(ClaudeTestHarness.Request("and on", filled.Completed!.SessionId, instructions: null))).Completed);
        var again = await pool.RunAsync(ClaudeTestHarness.Request("fills the pool again", instructions: null));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => pool.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        await Processes.AssertSpareLoadedAsync(pool.Provider.StartedPids);
        var spare = pool.SpareBesides([filled, again]);
        Assert.Equal(3, upstream.MessageRequests.Length);

        var warmed = await pool.RunAsync(ClaudeTestHarness.Request("What is a pelican?", instructions: null));
        Assert.Equal("Hello from the mock.", warmed.Text);
        Assert.Equal(spare, pool.Provider.PidOf(warmed.Completed!.SessionId!));
        var warmedRequest = upstream.MessageRequests[3];
        Assert.Equal(4, upstream.MessageRequests.Length); // the warm-up itself sent nothing

        var plain = await cold.RunAsync(ClaudeTestHarness.Request("What is a pelican?", instructions: null));
        Assert.Equal("Hello from the mock.", plain.Text);
        var plainRequest = upstream.MessageRequests[^1];

        // The same conversation upstream as on a process that had no warm-up: one user message with
        // claude's own reminders and the caller's text (the working folder differs: one per session and server).
        static List<string> Texts(JsonNode request) => request["messages"]!.AsArray()
            .SelectMany(m => m!["content"] is JsonArray blocks ? blocks.Select(b => (string?)b!["text"] ?? "") : [(string)m!["content"]!])
            .Select(t => System.Text.RegularExpressions.Regex.Replace(t, "Primary working directory: [^\n]*", "Primary working directory: DIR"))
            .ToList();
        var warmedTexts = Texts(warmedRequest.Json);
        output.WriteLine(string.Join("\n---\n", warmedTexts));
        Assert.Single(warmedRequest.Json["messages"]!.AsArray());
        Assert.Equal(Texts(plainRequest.Json), warmedTexts);
        Assert.Equal("What is a pelican?", warmedTexts[^1]);
        Assert.DoesNotContain(warmedTexts, t => t.Trim().Length == 0 || t.Contains("Blank prompt", StringComparison.Ordinal));
        // The warm-up did run on that process: claude keeps it in the session's transcript as a notice, not a message.
        var transcript = Directory.GetFiles(Path.Combine(pool.ClaudeHome!, ".claude", "projects"), warmed.Completed.SessionId + ".jsonl", SearchOption.AllDirectories);
        var notice = Assert.Single(File.ReadAllLines(Assert.Single(transcript)), l => l.Contains("Blank prompt", StringComparison.Ordinal));
        Assert.Equal("system", (string?)JsonNode.Parse(notice)!["type"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task Reaped_session_resumes_with_its_history_and_an_ended_one_is_gone_from_disk()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0, idleTimeout: TimeSpan.FromMilliseconds(400));
        var first = await h.RunAsync(ClaudeTestHarness.Request("Remember the word pelican."));
        var id = first.Completed!.SessionId!;
        var firstPid = Assert.Single(h.Provider.StartedPids);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(firstPid), TimeSpan.FromSeconds(5)), "idle process not reaped");

        var second = await h.RunAsync(ClaudeTestHarness.Request("Which word?", id));

        Assert.True(second.Completed?.SessionId == id, second.Describe());
        Assert.Equal(2, h.Provider.StartedPids.Count);
        var messages = upstream.MessageRequests[^1].Json["messages"]!.AsArray();
        Assert.Contains("pelican", messages[0]!.ToJsonString(), StringComparison.Ordinal);
        var transcript = Directory.GetFiles(Path.Combine(h.ClaudeHome!, ".claude", "projects"), id + ".jsonl", SearchOption.AllDirectories);
        Assert.Single(transcript);

        await h.Provider.EndSessionAsync(id);

        Assert.False(File.Exists(transcript[0]));
        var after = await h.RunAsync(ClaudeTestHarness.Request("Still there?", id));
        Assert.True(after.Error?.Kind == ProviderErrorKind.SessionNotFound, after.Describe());
    }

    [Theory(Timeout = 60_000)]
    [InlineData("--tools default")]
    [InlineData("long")]
    public async Task Instructions_reach_the_system_prompt_whatever_their_shape(string instructions)
    {
        if (instructions == "long")
        {
            // Longer than one argv string may be on Linux (128 KiB).
            instructions = "Remember: " + string.Concat(Enumerable.Repeat("pelicans are birds. ", 10_000));
        }
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        await using var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 0);

        var result = await h.RunAsync(ClaudeTestHarness.Request("hi", instructions: instructions));

        Assert.Equal("Hello from the mock.", result.Text);
        var request = Assert.Single(upstream.MessageRequests).Json;
        var system = request["system"]!.ToJsonString();
        Assert.Contains(JsonValue.Create(instructions)!.ToJsonString()[1..^1], system, StringComparison.Ordinal);
        Assert.Empty(request["tools"]?.AsArray() ?? []);
    }

    [Fact(Timeout = 60_000)]
    public async Task After_dispose_no_claude_process_of_ours_remains()
    {
        await using var upstream = await MockAnthropicUpstream.StartAsync();
        var h = ClaudeTestHarness.WithRealClaude(upstream, maxSpares: 1);
        await h.RunAsync(ClaudeTestHarness.Request("one"));
        await h.RunAsync(ClaudeTestHarness.Request("two"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        var pids = h.Provider.StartedPids;
        Assert.Equal(3, pids.Count);
        var tree = pids.SelectMany(Descendants).ToArray();

        await h.DisposeAsync();

        foreach (var pid in pids.Concat(tree))
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(3)), $"PID {pid} still alive");
        }
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var children = new List<int>();
        foreach (var task in Directory.Exists($"/proc/{pid}/task") ? Directory.GetDirectories($"/proc/{pid}/task") : [])
        {
            var file = Path.Combine(task, "children");
            if (File.Exists(file))
            {
                children.AddRange(File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
        }
        return children.Concat(children.SelectMany(Descendants));
    }

    private static async Task<RecordedRequest> RunCliWithDefaultsAsync(MockAnthropicUpstream upstream, ClaudeTestHarness h)
    {
        var before = upstream.MessageRequests.Length;
        var cwd = TempDir.Create("claude-defaults");
        var children = new ChildProcesses(NullLogger<ChildProcesses>.Instance);
        var home = TempDir.Create("claude-home");
        var env = new Dictionary<string, string?>
        {
            ["ANTHROPIC_BASE_URL"] = upstream.BaseUrl,
            ["ANTHROPIC_API_KEY"] = "x",
            ["HOME"] = home,
            ["CLAUDE_CODE_MAX_RETRIES"] = "1",
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
            ["DISABLE_TELEMETRY"] = "1",
            ["DISABLE_AUTOUPDATER"] = "1",
        };
        using var process = children.Start(RealClis.Claude,
            ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--model", "claude-sonnet-4-5"], cwd, env);
        await process.StandardInput.WriteLineAsync("""{"type":"user","message":{"role":"user","content":[{"type":"text","text":"hi"}]}}""");
        await process.StandardInput.FlushAsync();
        _ = process.StandardError.ReadToEndAsync();
        try
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Contains("\"type\":\"result\"", StringComparison.Ordinal))
                {
                    break;
                }
            }
        }
        finally
        {
            children.Dispose();
            TempDir.Delete(cwd);
            TempDir.Delete(home);
        }
        return upstream.MessageRequests.Skip(before).First();
    }
}
