using System.Diagnostics;
using CodexApiServer.Children;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;
using Microsoft.Extensions.DependencyInjection;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>CodexProvider against a fake app-server that misbehaves on demand.</summary>
public sealed class CodexFakeTests
{
    private static CodexHarness Fake(string mode, string? log = null, string? state = null, TimeSpan? requestTimeout = null, int? maxLineBytes = null, string? resumable = null) =>
        CodexHarness.Create(CodexHarness.FakeCodexPath(), new Dictionary<string, string?>
        {
            ["FAKE_CODEX_MODE"] = mode,
            ["FAKE_CODEX_LOG"] = log,
            ["FAKE_CODEX_STATE"] = state,
            ["FAKE_CODEX_RESUMABLE"] = resumable,
        }, requestTimeout, maxLineBytes);

    [Fact]
    public async Task A_turn_streams_deltas_usage_and_completes_with_the_thread_as_session()
    {
        await using var codex = Fake("normal");
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));

        Assert.Equal(4, events.OfType<TextDelta>().Count());
        Assert.Equal("Hello from fake codex.", events.Text());
        var usage = Assert.Single(events.OfType<UsageReport>()).Usage;
        Assert.Equal(new TokenUsage(12, 4, 3, 1), usage);
        var done = events.Completed();
        Assert.Equal(TurnEndReason.Stop, done.Reason);
        Assert.StartsWith("thr-", done.SessionId);
        Assert.Equal("app-server", codex.Probe.Codex.Mode);
        Assert.Equal("app-server", codex.Provider.Mode);
    }

    [Fact]
    public async Task Model_list_from_the_app_server_reaches_the_catalog()
    {
        await using var codex = Fake("normal");
        await codex.RunAsync(CodexHarness.Ask("hi"));
        var deadline = Stopwatch.StartNew();
        while (codex.Catalog.Find("fake-model-b") is null && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }
        Assert.Equal(ProviderKind.Codex, codex.Catalog.Find("fake-model-b")?.Provider);
    }

    [Fact]
    public async Task The_thread_starts_read_only_without_approvals_in_its_own_scratch_dir_and_end_session_removes_it()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("normal", log);
        var events = await codex.RunAsync(new TurnRequest(CodexHarness.Model("gpt-5.1"), "Be terse.", [TurnMessage.User("hi")], ReasoningEffort: "low",
            OutputSchema: System.Text.Json.JsonDocument.Parse("""{"type":"object"}""").RootElement));
        var session = events.Completed().SessionId!;

        var lines = File.ReadAllLines(log).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        // The first thread/start is this conversation's (a second one may be the spare for the next).
        var start = lines.First(l => (string?)l["method"] == "thread/start")["params"]!;
        Assert.Equal("gpt-5.1", (string?)start["model"]);
        Assert.Equal("read-only", (string?)start["sandbox"]);
        Assert.Equal("never", (string?)start["approvalPolicy"]);
        Assert.Equal("Be terse.", (string?)start["baseInstructions"]);
        Assert.False((bool)start["config"]!["features"]!["shell_tool"]!);
        Assert.False((bool)start["config"]!["features"]!["hooks"]!); // no hook of the user's codex config runs for a request
        Assert.False((bool)start["config"]!["include_environment_context"]!);
        var cwd = (string)start["cwd"]!;
        Assert.StartsWith(Path.Combine(codex.DataDir, "scratch", "codex-"), cwd);
        Assert.True(Directory.Exists(cwd));
        var turn = lines.Single(l => (string?)l["method"] == "turn/start")["params"]!;
        Assert.Equal("low", (string?)turn["effort"]);
        Assert.Equal("object", (string?)turn["outputSchema"]!["type"]);
        Assert.Equal("hi", (string?)turn["input"]![0]!["text"]);

        await codex.Provider.EndSessionAsync(session);
        Assert.False(Directory.Exists(cwd));
    }

    [Fact]
    public async Task Agent_mode_is_an_explicit_choice_writing_only_in_the_configured_folder()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("normal", log);
        var workspace = TempDir.Create("workspace");
        codex.Settings.Apply(new CodexApiServer.Hosting.ServerConfig { Mode = "agent", AgentWorkingDirectory = workspace, CodexPath = codex.Settings.Config.CodexPath, MasterKey = codex.Settings.Config.MasterKey });
        await codex.RunAsync(CodexHarness.Ask("hi", instructions: "Fix the bug."));

        var start = File.ReadAllLines(log).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).First(l => (string?)l["method"] == "thread/start")["params"]!;
        Assert.Equal("workspace-write", (string?)start["sandbox"]);
        Assert.Equal(workspace, (string?)start["cwd"]);
        Assert.Equal("never", (string?)start["approvalPolicy"]);
        Assert.Null(start["baseInstructions"]); // Codex keeps its own agent prompt
        Assert.Equal("Fix the bug.", (string?)start["developerInstructions"]);
        Assert.Null(start["config"]); // the agent keeps its tools
    }

    [Fact]
    public async Task A_codex_that_refuses_the_chat_config_gets_no_turn_without_it()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("reject-config", log);

        for (var i = 0; i < 2; i++)
        {
            var failed = TurnEvents.Failure(Assert.Single(await codex.RunAsync(CodexHarness.Ask("hi"))));
            Assert.Equal(ProviderErrorKind.Unavailable, failed.Kind);
            Assert.Contains("refused the settings that keep chat threads free of tools", failed.Message, StringComparison.Ordinal);
        }

        var lines = File.ReadAllLines(log).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        var starts = lines.Where(l => (string?)l["method"] == "thread/start").ToList();
        // Never a thread without the chat settings: the shell tool and the user's MCP servers stay out.
        Assert.Equal(2, starts.Count);
        Assert.All(starts, s => Assert.NotNull(s["params"]!["config"]));
        Assert.DoesNotContain(lines, l => (string?)l["method"] == "turn/start");
        Assert.Contains(codex.Logs.Lines, l => l.Contains("refused the chat-thread config", StringComparison.Ordinal));
    }

    [Fact]
    public async Task History_for_a_new_thread_goes_in_as_items_and_a_live_thread_gets_only_new_messages()
    {
        await using var codex = Fake("echo");
        var history = new List<TurnMessage>
        {
            new("system", [new TextPart("Rules.")]),
            TurnMessage.User("What is 2+2?"),
            new("assistant", [new TextPart("4")]),
            new("user", [new TextPart("And 3+3?"), new ImageUrlPart("https://example.com/a.png")]),
        };
        var first = await codex.RunAsync(new TurnRequest(CodexHarness.Model(), null, history));
        // The earlier turns as items of their own (thread/inject_items), the last message as the turn's input.
        Assert.Equal("echo:developer:Rules. > user:What is 2+2? > assistant:4 > And 3+3?", first.Text());

        var second = await codex.RunAsync(CodexHarness.Ask("thanks", first.Completed().SessionId));
        Assert.Equal("echo:thanks", second.Text());
        Assert.Equal(first.Completed().SessionId, second.Completed().SessionId);
    }

    [Fact]
    public async Task Images_go_as_url_and_data_url_items()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("normal", log);
        var message = new TurnMessage("user", [new TextPart("look"), new ImageUrlPart("https://example.com/cat.png"), new ImageDataPart("image/png", [1, 2, 3])]);
        (await codex.RunAsync(new TurnRequest(CodexHarness.Model(), null, [message]))).Completed();
        var turn = File.ReadAllLines(log).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).Single(l => (string?)l["method"] == "turn/start");
        var input = turn["params"]!["input"]!.AsArray();
        Assert.Equal(3, input.Count);
        Assert.Equal("https://example.com/cat.png", (string?)input[1]!["url"]);
        Assert.Equal("image", (string?)input[2]!["type"]);
        Assert.Equal("data:image/png;base64,AQID", (string?)input[2]!["url"]);
    }

    [Fact]
    public async Task Multibyte_text_written_one_byte_at_a_time_arrives_intact()
    {
        await using var codex = Fake("multibyte");
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));
        Assert.Equal("こんにちは、世界 🌏🎉 ñ", events.Text());
        events.Completed();
    }

    [Fact]
    public async Task Garbage_lines_are_skipped_and_the_turn_completes()
    {
        await using var codex = Fake("garbage");
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));
        Assert.Equal("Hello from fake codex.", events.Text());
        events.Completed();
        Assert.Contains(codex.Logs.Lines, l => l.Contains("not a JSON object"));
    }

    [Fact]
    public async Task A_5_MB_line_is_read_under_the_cap()
    {
        await using var codex = Fake("huge");
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));
        var text = events.Text();
        Assert.Equal(5 * 1024 * 1024 + " after huge".Length, text.Length);
        Assert.EndsWith(" after huge", text);
        events.Completed();
    }

    [Fact]
    public async Task A_line_over_the_cap_is_skipped_with_a_warning_and_the_turn_goes_on()
    {
        await using var codex = Fake("huge", maxLineBytes: 1024 * 1024);
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));
        Assert.Equal(" after huge", events.Text());
        events.Completed();
        Assert.Contains(codex.Logs.Lines, l => l.StartsWith("Warning") && l.Contains("over the limit"));
    }

    [Fact]
    public async Task Server_requests_are_all_answered_approvals_denied_unknown_ones_with_an_error()
    {
        await using var codex = Fake("approval");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var events = await codex.RunAsync(CodexHarness.Ask("hi"), cts.Token);
        Assert.Equal("""approval={"decision":"decline"} legacy={"decision":{"denied":{"rejection":"codex-api-server does not allow commands or file changes"}}} unknown=error -32601""", events.Text());
        events.Completed();
    }

    [Fact]
    public async Task Unauthorized_fails_fast_as_not_authenticated_and_interrupts_the_turn()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("auth", log);
        var clock = Stopwatch.StartNew();
        var events = await codex.RunAsync(CodexHarness.Ask("hi"));
        var error = events.Failed();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        Assert.Equal(ProviderErrorKind.NotAuthenticated, error.Kind);
        Assert.Equal("codex login", error.Hint);
        await WaitForAsync(() => File.ReadAllText(log).Contains("\"turn/interrupt\""));
    }

    [Fact]
    public async Task An_upstream_failure_is_upstream()
    {
        await using var codex = Fake("upstream500");
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.Upstream, error.Kind);
        Assert.Contains("500", error.Message);
    }

    [Fact]
    public async Task Reasoning_deltas_and_a_message_without_deltas_are_delivered()
    {
        await using (var codex = Fake("reasoning"))
        {
            var events = await codex.RunAsync(CodexHarness.Ask("hi"));
            Assert.Equal("thinking...", Assert.Single(events.OfType<ReasoningDelta>()).Text);
        }
        await using (var codex = Fake("whole-message"))
        {
            var events = await codex.RunAsync(CodexHarness.Ask("hi"));
            Assert.Equal("arrived whole", events.Text());
            events.Completed();
        }
    }

    [Fact]
    public async Task A_new_conversation_takes_a_thread_started_ahead_once_the_previous_turn_is_under_way()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("normal", log);
        List<System.Text.Json.Nodes.JsonNode> Lines() => File.ReadAllLines(log).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        static bool Is(System.Text.Json.Nodes.JsonNode l, string method) => (string?)l["method"] == method;

        var first = (await codex.RunAsync(CodexHarness.Ask("one", instructions: "Be brief."))).Completed().SessionId!;
        await WaitForAsync(() => codex.Provider.SpareCount == 1);
        var lines = Lines();
        Assert.Equal(2, lines.Count(l => Is(l, "thread/start")));
        // The spare was asked for after the first turn had started, not while it waited for its answer.
        Assert.True(lines.FindIndex(l => Is(l, "thread/start")) < lines.FindIndex(l => Is(l, "turn/start")));
        Assert.True(lines.FindIndex(l => Is(l, "turn/start")) < lines.FindLastIndex(l => Is(l, "thread/start")));

        var second = (await codex.RunAsync(CodexHarness.Ask("two", instructions: "Be brief."))).Completed().SessionId!;
        lines = Lines();
        var turns = lines.Where(l => Is(l, "turn/start")).ToList();
        Assert.Equal(2, turns.Count);
        Assert.NotEqual(first, second);
        Assert.Equal(second, (string?)turns[1]["params"]!["threadId"]);
        // No thread/start between the two turns: the second conversation began on the spare.
        Assert.Equal(2, lines.TakeWhile(l => l != turns[1]).Count(l => Is(l, "thread/start")));

        // Other instructions are other thread settings: that conversation starts a thread of its own.
        (await codex.RunAsync(CodexHarness.Ask("three", instructions: "Be long."))).Completed();
        lines = Lines();
        var third = lines.Last(l => Is(l, "turn/start"));
        // (The refill for "Be brief." may land in between.)
        Assert.Single(lines.TakeWhile(l => l != third), l => Is(l, "thread/start") && (string?)l["params"]!["baseInstructions"] == "Be long.");
    }

    [Fact]
    public async Task A_crash_mid_turn_is_crashed_and_the_next_turn_restarts_the_process()
    {
        var state = Path.Combine(TempDir.Create("fakestate"), "crashed");
        await using var codex = Fake("crash-once", state: state);
        var first = await codex.RunAsync(CodexHarness.Ask("hi"));
        Assert.Equal(ProviderErrorKind.Crashed, first.Failed().Kind);
        Assert.Equal("partial ", first.Text());

        var second = await codex.RunAsync(CodexHarness.Ask("again"));
        Assert.Equal("Hello from fake codex.", second.Text());
        second.Completed();
    }

    [Fact]
    public async Task An_ephemeral_thread_whose_app_server_died_is_session_not_found_without_a_resume()
    {
        var log = Path.Combine(TempDir.Create("fake-codex-log"), "log.jsonl");
        await using var codex = Fake("normal", log: log);
        var session = (await codex.RunAsync(CodexHarness.Ask("hi"))).Completed().SessionId!;
        using (var process = Process.GetProcessById(codex.Provider.AppServerPid!.Value))
        {
            process.Kill(entireProcessTree: true);
        }
        await WaitForAsync(() => codex.Provider.AppServerPid is null);

        // Nothing of it is on disk: the conversation is replayed instead (TurnRun), with no thread/resume tried.
        var missing = await codex.RunAsync(CodexHarness.Ask("again", session));
        Assert.Equal(ProviderErrorKind.SessionNotFound, missing.Failed().Kind);
        var sent = File.ReadAllText(log);
        Assert.Contains("\"ephemeral\":true", sent, StringComparison.Ordinal);
        Assert.DoesNotContain("thread/resume", sent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_of_a_dead_process_is_resumed_and_an_unknown_one_is_session_not_found()
    {
        await using var codex = Fake("normal", resumable: "thr-old-1");
        var resumed = await codex.RunAsync(CodexHarness.Ask("hi", sessionId: "thr-old-1"));
        Assert.Equal("thr-old-1", resumed.Completed().SessionId);

        var missing = await codex.RunAsync(CodexHarness.Ask("hi", sessionId: "thr-nope"));
        Assert.Equal(ProviderErrorKind.SessionNotFound, missing.Failed().Kind);
    }

    [Fact]
    public async Task Cancelling_interrupts_the_turn_and_stops_the_stream()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("hang", log);
        using var cts = new CancellationTokenSource();
        var seen = new List<TurnEvent>();
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in codex.Provider.RunAsync(CodexHarness.Ask("hi"), cts.Token))
            {
                seen.Add(e);
                cts.CancelAfter(100);
            }
        });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal("waiting ", seen.Text());
        await WaitForAsync(() => File.ReadAllText(log).Contains("\"turn/interrupt\""));
    }

    [Fact]
    public async Task A_cancelled_turn_holds_its_thread_until_codex_has_wound_it_down_and_the_next_turn_then_runs_alone()
    {
        await using var codex = Fake("normal");
        var thread = (await codex.RunAsync(CodexHarness.Ask("hi"))).Completed().SessionId!;
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in codex.Provider.RunAsync(CodexHarness.Ask("#mode=hang-slow-stop", sessionId: thread), cts.Token))
            {
                await cts.CancelAsync();
            }
        });
        // Started at once, it must wait for the interrupted turn (300 ms) and then have the thread to itself (800 ms).
        var next = await codex.RunAsync(CodexHarness.Ask("#mode=slow", sessionId: thread));
        Assert.Equal("Hello from fake codex.", next.Text());
        next.Completed();
        Assert.DoesNotContain(codex.Logs.Lines, l => l.Contains("SemaphoreFull", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_app_server_that_never_answers_initialize_fails_the_turn_instead_of_hanging()
    {
        await using var codex = Fake("init-hang", requestTimeout: TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.Crashed, error.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task An_app_server_that_dies_at_start_fails_the_turn_and_logs_its_stderr()
    {
        await using var codex = Fake("die-at-start");
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.Crashed, error.Kind);
        // What codex printed is for the operator: it may name tokens, paths and addresses.
        Assert.DoesNotContain("something specific", error.Message);
        Assert.Contains(codex.Logs.Lines, l => l.Contains("config.toml is invalid: something specific", StringComparison.Ordinal));

        // The next attempt waits a little (back-off) and tries again rather than giving up for good.
        var clock = Stopwatch.StartNew();
        var again = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.Crashed, again.Kind);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(200), $"retried after {clock.Elapsed}");
    }

    [Fact]
    public async Task Missing_cli_is_not_installed_with_the_npm_hint()
    {
        await using var codex = CodexHarness.Create(null);
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.NotInstalled, error.Kind);
        Assert.Equal("npm install -g @openai/codex", error.Hint);
    }

    [Fact]
    public async Task Without_app_server_the_exec_fallback_sends_the_prompt_on_stdin()
    {
        var log = Path.Combine(TempDir.Create("fakelog"), "log.jsonl");
        await using var codex = Fake("no-app-server", log);
        var events = await codex.RunAsync(CodexHarness.Ask("hello there"));
        Assert.Equal("exec says: hello there", events.Text());
        Assert.Equal(new TokenUsage(7, 3, 1, 0), events.Usage());
        events.Completed();
        Assert.Equal("exec", codex.Probe.Codex.Mode);
        var argv = File.ReadAllLines(log).First(l => l.StartsWith("argv "));
        Assert.Contains("\"--json\"", argv);
        Assert.Contains("\"read-only\"", argv);
        Assert.DoesNotContain("\"-p\"", argv);
        Assert.EndsWith("\"-\"]", argv);
        Assert.Null(codex.Provider.AppServerPid);
    }

    [Fact]
    public async Task Exec_fallback_fails_fast_on_401()
    {
        await using var codex = Fake("exec-auth-no-app-server");
        var clock = Stopwatch.StartNew();
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        Assert.Equal(ProviderErrorKind.NotAuthenticated, error.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_turn_codex_refuses_is_invalid_request()
    {
        await using var codex = Fake("normal");
        var request = CodexHarness.Ask("hi") with { ReasoningEffort = "bogus" };
        var error = (await codex.RunAsync(request)).Failed();
        Assert.Equal(ProviderErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("effort", error.Message);
    }

    [Fact]
    public async Task Scratch_folders_left_by_an_earlier_run_are_removed_at_the_first_start()
    {
        await using var codex = Fake("normal");
        var stale = Path.Combine(codex.DataDir, "scratch", "codex-stale");
        Directory.CreateDirectory(stale);
        (await codex.RunAsync(CodexHarness.Ask("hi"))).Completed();
        Assert.False(Directory.Exists(stale));
    }

    [Fact]
    public async Task Disposing_the_provider_ends_the_app_server()
    {
        var codex = Fake("normal");
        (await codex.RunAsync(CodexHarness.Ask("hi"))).Completed();
        var pid = codex.Provider.AppServerPid;
        Assert.NotNull(pid);
        Assert.True(CodexHarness.ProcessExists(pid.Value));
        await codex.DisposeAsync();
        await WaitForAsync(() => !CodexHarness.ProcessExists(pid.Value));
    }

    [Fact]
    public async Task Stopping_the_server_ends_the_app_server_it_started()
    {
        var fake = CodexHarness.FakeCodexPath();
        var logs = new CapturingLoggerProvider();
        var server = await TestServer.StartAsync($"{{\"codexPath\": \"{fake}\"}}", logging: logs);
        var provider = server.App.Services.GetRequiredService<CodexProvider>();
        Assert.Same(provider, server.App.Services.GetServices<ITurnProvider>().Single(p => p.Kind == ProviderKind.Codex));
        var events = new List<TurnEvent>();
        await foreach (var e in provider.RunAsync(CodexHarness.Ask("hi"), CancellationToken.None))
        {
            events.Add(e);
        }
        events.Completed();
        var pid = provider.AppServerPid!.Value;
        // What the host does first when it stops: end every child. The provider is still alive then,
        // and must not report our own shutdown as a crash.
        server.App.Services.GetRequiredService<ChildProcesses>().EndAll();
        await WaitForAsync(() => !CodexHarness.ProcessExists(pid));
        await WaitForAsync(() => provider.AppServerExitsHandled == 1); // the provider has seen it go
        Assert.DoesNotContain(logs.Lines, l => l.Contains("app-server PID") && l.Contains("ended"));
        await server.DisposeAsync();
    }

    internal static async Task WaitForAsync(Func<bool> condition, double seconds = 5)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), "condition not met in time");
            await Task.Delay(25);
        }
    }
}
