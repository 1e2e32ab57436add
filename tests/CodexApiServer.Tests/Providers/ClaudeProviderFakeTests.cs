using System.Diagnostics;
using System.Text.Json;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>ClaudeProvider against fake-claude.mjs, a stand-in that misbehaves on demand.</summary>
public sealed class ClaudeProviderFakeTests
{
    private const string Expected = "Hello, wörld 日本語 😀";

    [Fact]
    public async Task Streams_text_deltas_usage_and_completion_with_chat_mode_argv()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));

        Assert.Equal(Expected, result.Text);
        Assert.Equal(5, result.TextDeltaCount);
        // Fake reports input 10 + cache creation 4 + cache read 2; OpenAI counts cached tokens inside prompt tokens.
        Assert.Equal(new TokenUsage(16, 5, 2, 0), result.Usage);
        Assert.Equal(TurnEndReason.Stop, result.Completed?.Reason);
        Assert.True(Guid.TryParse(result.Completed!.SessionId, out _), result.Describe());

        var argv = Assert.Single(h.FakeStarts()).Value;
        var expected = new[]
        {
            "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
            "--include-partial-messages", "--model=claude-sonnet-4-5", "--system-prompt=Be brief.",
            "--tools", "", "--setting-sources", "",
            """--settings={"totalTokensReminder":"off","enabledPlugins":{"cc-plugin-agents-md@builtin":false,"cc-plugin-plugin-authoring@builtin":false}}""",
            "--session-id", result.Completed.SessionId!,
        };
        Assert.Equal(expected, argv);
        Assert.DoesNotContain("--no-session-persistence", argv);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_key_seen_once_keeps_no_spare_and_a_second_conversation_refills_at_once()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 2);
        var once = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.NotNull(once.Completed);
        // A one-off system prompt must leave no process behind but its own conversation's.
        await Task.Delay(1000);
        Assert.Equal(0, h.Provider.SpareCount);
        Assert.Single(h.Provider.StartedPids);

        using var cts = new CancellationTokenSource();
        // hang-first sends message_start and content_block_start, then nothing: the second of
        // them through the provider means the turn is waiting for its first token.
        var beforeFirstToken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lines = 0;
        var turn = h.RunAsync(ClaudeTestHarness.Request("hi #mode=hang-first"), e =>
        {
            if (e is CliActivity && ++lines == 2)
            {
                beforeFirstToken.TrySetResult();
            }
        }, cts.Token);

        // The key's second new conversation in a few seconds: its spares (two, the maximum) start while it
        // still waits for its first token, not after (measured faster back to back; README).
        await beforeFirstToken.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 2, TimeSpan.FromSeconds(5)), $"{h.Provider.SpareCount} spares before the first token");

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => turn);
        Assert.Equal(2, h.Provider.SpareCount);
        Assert.Equal(4, h.Provider.StartedPids.Count);
    }

    [Fact]
    public async Task Scratch_directory_is_per_session_and_removed_when_the_session_ends()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        var id = result.Completed!.SessionId!;
        var scratch = Path.Combine(h.DataDir, "scratch", $"claude-{id}");
        Assert.True(Directory.Exists(scratch));
        var pid = Assert.Single(h.Provider.StartedPids);

        await h.Provider.EndSessionAsync(id);

        Assert.False(Directory.Exists(scratch));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(3)));
        var again = await h.RunAsync(ClaudeTestHarness.Request("more", id));
        Assert.Equal(ProviderErrorKind.SessionNotFound, again.Error?.Kind);
    }

    [Fact]
    public async Task Second_turn_on_a_session_reuses_its_process()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 0);
        var first = await h.RunAsync(ClaudeTestHarness.Request("one"));
        var second = await h.RunAsync(ClaudeTestHarness.Request("two", first.Completed!.SessionId));

        var pid = Assert.Single(h.Provider.StartedPids);
        Assert.Equal($"pid={pid} turn=1", first.Text);
        Assert.Equal($"pid={pid} turn=2", second.Text);
        Assert.Equal(first.Completed.SessionId, second.Completed?.SessionId);
    }

    [Fact]
    public async Task Later_turns_without_instructions_keep_the_process_and_another_model_resumes()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 0);
        var first = await h.RunAsync(ClaudeTestHarness.Request("one", instructions: "Be brief."));
        var id = first.Completed!.SessionId;
        var second = await h.RunAsync(ClaudeTestHarness.Request("two", id, instructions: null));
        Assert.EndsWith(" turn=2", second.Text);
        Assert.Single(h.Provider.StartedPids);

        var third = await h.RunAsync(ClaudeTestHarness.Request("three", id) with { Model = ClaudeTestHarness.Model("claude-opus-4-5") });

        Assert.EndsWith(" turn=1", third.Text);
        Assert.Equal(id, third.Completed?.SessionId);
        var argv = h.FakeStarts()[h.Provider.StartedPids[^1]];
        Assert.Contains("--model=claude-opus-4-5", argv);
        Assert.Equal(["--resume", id!], argv[^2..]);
    }

    [Fact]
    public async Task New_conversation_takes_a_started_spare()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 1);
        await h.RunAsync(ClaudeTestHarness.Request("one"));
        await h.RunAsync(ClaudeTestHarness.Request("two"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        var before = h.Provider.StartedPids;
        Assert.Equal(3, before.Count);

        var third = await h.RunAsync(ClaudeTestHarness.Request("three"));

        Assert.Equal($"pid={before[2]} turn=1", third.Text);
        // The spare's session id was chosen at its start and becomes the conversation's handle.
        Assert.Equal(third.Completed!.SessionId, h.FakeStarts()[before[2]][^1]);
        // ...and a new spare replaces it.
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1 && h.Provider.StartedPids.Count == 4, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Spares_are_per_model_and_instructions()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 1);
        await h.RunAsync(ClaudeTestHarness.Request("one", instructions: "A"));
        await h.RunAsync(ClaudeTestHarness.Request("one again", instructions: "A"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 1, TimeSpan.FromSeconds(5)));
        var spare = h.Provider.StartedPids[2];

        var other = await h.RunAsync(ClaudeTestHarness.Request("two", instructions: "B"));

        Assert.DoesNotContain($"pid={spare} ", other.Text);
        var argv = h.FakeStarts()[int.Parse(other.Text.Split(' ')[0][4..])];
        Assert.Contains("--system-prompt=B", argv);
    }

    [Fact]
    public async Task Spares_are_kept_for_the_eight_keys_used_last_only()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 1);
        for (var i = 0; i < 10; i++)
        {
            // Twice: a key seen once keeps no spare. Wait for the spare before the next key.
            await h.RunAsync(ClaudeTestHarness.Request("hi", instructions: $"key {i}"));
            await h.RunAsync(ClaudeTestHarness.Request("hi again", instructions: $"key {i}"));
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.StartedPids.Count == 3 * (i + 1), TimeSpan.FromSeconds(10)), $"no spare for key {i}");
        }

        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.SpareCount == 8, TimeSpan.FromSeconds(5)), $"{h.Provider.SpareCount} spares");
        // The two oldest keys' spares were ended: a turn for key 0 gets no spare (a new process), for key 9 the spare.
        var first = h.Provider.StartedPids[2];
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(first), TimeSpan.FromSeconds(5)), "the oldest key's spare still runs");
        Assert.True(ClaudeTestHarness.IsAlive(h.Provider.StartedPids[^1]));
    }

    [Fact]
    public async Task Crash_mid_turn_is_Crashed_and_the_next_turn_works()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var crashed = await h.RunAsync(ClaudeTestHarness.Request("#mode=crash"));
        Assert.Equal(ProviderErrorKind.Crashed, crashed.Error?.Kind);
        Assert.Equal("Hello, ", crashed.Text);

        var next = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(Expected, next.Text);
    }

    [Fact]
    public async Task Crashed_session_continues_by_resume()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var first = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        var id = first.Completed!.SessionId!;
        var crashed = await h.RunAsync(ClaudeTestHarness.Request("#mode=crash", id));
        Assert.Equal(ProviderErrorKind.Crashed, crashed.Error?.Kind);

        var next = await h.RunAsync(ClaudeTestHarness.Request("again", id));

        Assert.Equal(Expected, next.Text);
        Assert.Equal(id, next.Completed?.SessionId);
        Assert.Equal(["--resume", id], h.FakeStarts()[h.Provider.StartedPids[^1]][^2..]);
    }

    [Fact]
    public async Task Process_exiting_at_start_is_Crashed_not_a_hang()
    {
        await using var h = ClaudeTestHarness.WithFake("exit-at-start", maxSpares: 0);
        var clock = Stopwatch.StartNew();
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(ProviderErrorKind.Crashed, result.Error?.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Cancelling_a_hung_turn_ends_its_process_promptly()
    {
        await using var h = ClaudeTestHarness.WithFake("hang", maxSpares: 0);
        using var cts = new CancellationTokenSource();
        var events = new List<TurnEvent>();
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var ev in h.Provider.RunAsync(ClaudeTestHarness.Request("hi"), cts.Token))
            {
                events.Add(ev);
                cts.CancelAfter(200);
            }
        });
        Assert.Single(events.OfType<TextDelta>());
        var pid = Assert.Single(h.Provider.StartedPids);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(2)), "process still alive");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Caller_stopping_early_ends_the_process()
    {
        await using var h = ClaudeTestHarness.WithFake("hang", maxSpares: 0);
        await foreach (var ev in h.Provider.RunAsync(ClaudeTestHarness.Request("hi"), CancellationToken.None))
        {
            break;
        }
        var pid = Assert.Single(h.Provider.StartedPids);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(2)));
    }

    [Theory]
    [InlineData("retry")]
    [InlineData("garbage")]
    [InlineData("huge")]
    [InlineData("split")]
    [InlineData("slow")]
    public async Task Misbehaving_output_still_yields_the_exact_text(string mode)
    {
        await using var h = ClaudeTestHarness.WithFake(mode, maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(Expected, result.Text);
        Assert.Equal(5, result.TextDeltaCount);
        Assert.Equal(TurnEndReason.Stop, result.Completed?.Reason);
        var again = await h.RunAsync(ClaudeTestHarness.Request("again", result.Completed!.SessionId));
        Assert.Equal(Expected, again.Text);
        if (mode == "huge")
        {
            Assert.Contains(h.Log.Lines, l => l.Contains("longer than", StringComparison.Ordinal));
        }
        if (mode == "garbage")
        {
            Assert.Contains(h.Log.Lines, l => l.Contains("not JSON", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Stderr_is_drained_and_logged_at_debug()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Log.Lines.Any(l => l.StartsWith("Debug", StringComparison.Ordinal) && l.Contains("fake-claude turn 1 mode ok", StringComparison.Ordinal)), TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task Auth_failure_fails_fast_with_NotAuthenticated_and_kills_the_process()
    {
        await using var h = ClaudeTestHarness.WithFake("auth", maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(ProviderErrorKind.NotAuthenticated, result.Error?.Kind);
        Assert.Equal("claude, then /login", result.Error?.Hint);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(3), $"took {result.Elapsed}");
        var pid = Assert.Single(h.Provider.StartedPids);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Result_error_is_Upstream()
    {
        await using var h = ClaudeTestHarness.WithFake("error", maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(ProviderErrorKind.Upstream, result.Error?.Kind);
        Assert.Contains("500", result.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Max_tokens_is_finish_reason_length()
    {
        await using var h = ClaudeTestHarness.WithFake("length", maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(TurnEndReason.Length, result.Completed?.Reason);
    }

    [Fact]
    public async Task Thinking_deltas_are_reasoning()
    {
        await using var h = ClaudeTestHarness.WithFake("thinking", maxSpares: 0);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal("Let me think.", Assert.Single(result.Events.OfType<ReasoningDelta>()).Text);
        Assert.IsType<ReasoningDelta>(result.Events.First(e => e is not (CliActivity or UsageReport)));
        Assert.Equal(3, result.Usage?.ReasoningTokens);
    }

    [Fact]
    public async Task Unknown_or_invalid_session_is_SessionNotFound()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var notOnDisk = await h.RunAsync(ClaudeTestHarness.Request("hi", Guid.NewGuid().ToString()));
        Assert.Equal(ProviderErrorKind.SessionNotFound, notOnDisk.Error?.Kind);
        var invalid = await h.RunAsync(ClaudeTestHarness.Request("hi", "not-a-session; rm -rf /"));
        Assert.Equal(ProviderErrorKind.SessionNotFound, invalid.Error?.Kind);
        Assert.Single(h.Provider.StartedPids);
    }

    [Fact]
    public async Task Idle_session_is_reaped_and_then_resumed()
    {
        await using var h = ClaudeTestHarness.WithFake("turn", maxSpares: 1, idleTimeout: TimeSpan.FromMilliseconds(500));
        var first = await h.RunAsync(ClaudeTestHarness.Request("one"));
        var firstPid = h.Provider.StartedPids[0];
        // A second conversation on the key leaves a spare; it is reaped with the idle sessions.
        await h.RunAsync(ClaudeTestHarness.Request("one more"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.StartedPids.Count == 3, TimeSpan.FromSeconds(5)));
        var sparePid = h.Provider.StartedPids[2];

        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(firstPid) && !ClaudeTestHarness.IsAlive(sparePid), TimeSpan.FromSeconds(5)), "idle processes not reaped");
        Assert.Equal(0, h.Provider.SpareCount);

        var second = await h.RunAsync(ClaudeTestHarness.Request("two", first.Completed!.SessionId));
        Assert.Equal(first.Completed.SessionId, second.Completed?.SessionId);
        Assert.EndsWith(" turn=1", second.Text);
        Assert.Contains("--resume", h.FakeStarts()[int.Parse(second.Text.Split(' ')[0][4..])]);
    }

    [Fact]
    public async Task History_keeps_roles_and_system_messages_become_the_system_prompt()
    {
        await using var h = ClaudeTestHarness.WithFake("echo", maxSpares: 0);
        var request = new TurnRequest(ClaudeTestHarness.Model(), "Be brief.",
        [
            new TurnMessage("system", [new TextPart("Answer in French.")]),
            TurnMessage.User("My name is Ada."),
            new TurnMessage("assistant", [new TextPart("Hello Ada.")]),
            TurnMessage.User("What is my name?"),
        ]);
        var result = await h.RunAsync(request);

        var content = JsonDocument.Parse(result.Text).RootElement;
        Assert.Equal(2, content.GetArrayLength());
        var transcript = content[0].GetProperty("text").GetString()!;
        Assert.Contains("[user]: My name is Ada.", transcript, StringComparison.Ordinal);
        Assert.Contains("[assistant]: Hello Ada.", transcript, StringComparison.Ordinal);
        Assert.DoesNotContain("French", transcript, StringComparison.Ordinal);
        Assert.Equal("What is my name?", content[1].GetProperty("text").GetString());
        var argv = Assert.Single(h.FakeStarts()).Value;
        Assert.Contains("--system-prompt=Be brief.\n\nAnswer in French.", argv);
    }

    [Fact]
    public async Task Images_go_as_Anthropic_image_blocks()
    {
        await using var h = ClaudeTestHarness.WithFake("echo", maxSpares: 0);
        var png = new byte[] { 0x89, 0x50, 0x4e, 0x47, 1, 2, 3 };
        var request = new TurnRequest(ClaudeTestHarness.Model(), null,
            [new TurnMessage("user", [new TextPart("What is this?"), new ImageDataPart("image/png", png), new ImageUrlPart("https://example.com/cat.jpg")])]);
        var result = await h.RunAsync(request);

        var content = JsonDocument.Parse(result.Text).RootElement;
        Assert.Equal(3, content.GetArrayLength());
        var data = content[1].GetProperty("source");
        Assert.Equal("image", content[1].GetProperty("type").GetString());
        Assert.Equal("base64", data.GetProperty("type").GetString());
        Assert.Equal("image/png", data.GetProperty("media_type").GetString());
        Assert.Equal(png, Convert.FromBase64String(data.GetProperty("data").GetString()!));
        var url = content[2].GetProperty("source");
        Assert.Equal("url", url.GetProperty("type").GetString());
        Assert.Equal("https://example.com/cat.jpg", url.GetProperty("url").GetString());
    }

    [Theory]
    [InlineData("none", "low")]
    [InlineData("minimal", "low")]
    [InlineData("medium", "medium")]
    [InlineData("xhigh", "xhigh")]
    [InlineData("max", "max")]
    public async Task Effort_and_schema_go_to_the_cli(string effort, string expected)
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"string"}}}""").RootElement;
        await h.RunAsync(new TurnRequest(ClaudeTestHarness.Model(), null, [TurnMessage.User("hi")], effort, schema));
        var argv = Assert.Single(h.FakeStarts()).Value;
        Assert.Contains("--effort=" + expected, argv);
        Assert.Contains("--json-schema=" + schema.GetRawText(), argv);
    }

    [Fact]
    public async Task Missing_cli_is_NotInstalled_with_the_install_hint()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        h.Settings.Config.ClaudePath = Path.Combine(h.DataDir, "no-such-claude");
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(ProviderErrorKind.NotInstalled, result.Error?.Kind);
        Assert.Equal(CliProbe.InstallHint("claude"), result.Error?.Hint);
    }

    [Fact]
    public async Task Agent_mode_has_tools_and_the_agent_directory()
    {
        var agentDir = TempDir.Create("agent");
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0, configMode: "agent", agentDir: agentDir);
        var result = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        Assert.Equal(Expected, result.Text);
        var argv = Assert.Single(h.FakeStarts()).Value;
        Assert.DoesNotContain("--tools", argv);
        Assert.Equal("acceptEdits", argv[Array.IndexOf(argv, "--permission-mode") + 1]);
        using var doc = JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(h.FakeLog!, "*.json").Single()));
        Assert.Equal(agentDir, doc.RootElement.GetProperty("cwd").GetString());
        TempDir.Delete(agentDir);
    }

    [Fact]
    public async Task Concurrent_turn_on_a_busy_session_is_refused_not_interleaved()
    {
        await using var h = ClaudeTestHarness.WithFake(maxSpares: 0);
        var first = await h.RunAsync(ClaudeTestHarness.Request("hi"));
        var id = first.Completed!.SessionId;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = h.RunAsync(ClaudeTestHarness.Request("#mode=slow", id), e =>
        {
            if (e is TextDelta)
            {
                started.TrySetResult();
            }
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the slow turn is under way
        var second = await h.RunAsync(ClaudeTestHarness.Request("hi", id));
        Assert.Equal(ProviderErrorKind.Busy, second.Error?.Kind);
        Assert.Equal(Expected, (await slow).Text);
    }

    [Fact]
    public async Task Dispose_ends_every_process()
    {
        var h = ClaudeTestHarness.WithFake("turn", maxSpares: 2);
        var a = await h.RunAsync(ClaudeTestHarness.Request("one"));
        var hang = h.RunAsync(ClaudeTestHarness.Request("#mode=hang"));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => h.Provider.StartedPids.Count >= 4, TimeSpan.FromSeconds(5)));
        var pids = h.Provider.StartedPids;
        Assert.All(pids.Take(3), p => Assert.True(ClaudeTestHarness.IsAlive(p)));

        await h.DisposeAsync();

        foreach (var pid in h.Provider.StartedPids)
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(3)), $"PID {pid} still alive");
        }
        var hung = await hang;
        Assert.Equal(ProviderErrorKind.Crashed, hung.Error?.Kind);
        Assert.Equal(0, h.Children.Count);
    }
}
