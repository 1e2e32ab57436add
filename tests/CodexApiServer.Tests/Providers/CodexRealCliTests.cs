using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>The real codex CLI (pinned in tests/node) driven by CodexProvider against a mock Responses server.</summary>
public sealed class CodexRealCliTests(ITestOutputHelper output)
{
    private static async Task<(MockResponsesUpstream Mock, CodexHarness Codex)> StartAsync(int? maxRetries = null)
    {
        var mock = await MockResponsesUpstream.StartAsync();
        return (mock, CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment(maxRetries)));
    }

    private static string NewestUserText(JsonNode request)
    {
        var last = request["input"]!.AsArray().Last(i => (string?)i!["role"] == "user")!;
        return string.Concat(last["content"]!.AsArray().Select(c => (string?)c!["text"]));
    }

    [Fact]
    public async Task Streams_text_as_several_deltas_with_the_mocks_usage()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var events = await codex.RunAsync(CodexHarness.Ask("Say hello"));

        Assert.Equal(4, events.OfType<TextDelta>().Count());
        Assert.Equal("Hello from the mock.", events.Text());
        var usage = events.Usage();
        Assert.Equal(new TokenUsage(21, 6, 4, 2), usage);
        Assert.NotNull(events.Completed().SessionId);
        Assert.Equal("Say hello", NewestUserText(Assert.Single(mock.Requests)));
        Assert.Equal("app-server", codex.Probe.Codex.Mode);
    }

    [Fact]
    public async Task A_chat_turn_sends_no_agent_tools_or_prompts_upstream_and_stays_under_2_KB()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        (await codex.RunAsync(CodexHarness.Ask("Say hello."))).Completed();

        var body = Assert.Single(mock.Requests);
        // Measured as codex sends it: compact, without the escaping JsonNode adds by default.
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            body.WriteTo(writer);
        }
        var size = buffer.Length;
        output.WriteLine($"upstream request: {size} bytes; {string.Join(", ", body.AsObject().Select(p => $"{p.Key} {p.Value?.ToJsonString().Length}"))}");
        Assert.Empty(body["tools"]?.AsArray() ?? []);
        var input = body["input"]!.ToJsonString();
        Assert.DoesNotContain("skills_instructions", input);
        Assert.DoesNotContain("environment_context", input);
        Assert.Contains("You are a helpful assistant.", input);
        Assert.Equal("Say hello.", NewestUserText(body));
        Assert.True(size < 2048, $"{size} bytes");
    }

    [Fact]
    public async Task Japanese_and_emoji_arrive_intact()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        mock.Chunks = ["こんにちは", "、世界", " 🌏", "🎉👍🏽"];

        var events = await codex.RunAsync(CodexHarness.Ask("日本語で挨拶して 🙂"));

        Assert.Equal("こんにちは、世界 🌏🎉👍🏽", events.Text());
        Assert.Equal("日本語で挨拶して 🙂", NewestUserText(mock.Requests[0]));
        events.Completed();
    }

    [Fact]
    public async Task A_second_turn_on_the_session_reuses_the_warm_process_and_thread()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var cold = Stopwatch.StartNew();
        var coldFirstToken = TimeSpan.Zero;
        var first = new List<TurnEvent>();
        await foreach (var e in codex.Provider.RunAsync(CodexHarness.Ask("first question", instructions: "Answer briefly."), CancellationToken.None))
        {
            if (e is TextDelta && coldFirstToken == TimeSpan.Zero)
            {
                coldFirstToken = cold.Elapsed;
            }
            first.Add(e);
        }
        var session = first.Completed().SessionId!;
        var pid = codex.Provider.AppServerPid;

        var warm = Stopwatch.StartNew();
        var warmFirstToken = TimeSpan.Zero;
        var second = new List<TurnEvent>();
        await foreach (var e in codex.Provider.RunAsync(CodexHarness.Ask("second question", session), CancellationToken.None))
        {
            if (e is TextDelta && warmFirstToken == TimeSpan.Zero)
            {
                warmFirstToken = warm.Elapsed;
            }
            second.Add(e);
        }
        output.WriteLine($"time to first token: cold {coldFirstToken.TotalMilliseconds:0} ms, warm {warmFirstToken.TotalMilliseconds:0} ms");

        Assert.Equal(session, second.Completed().SessionId);
        Assert.Equal(pid, codex.Provider.AppServerPid);
        Assert.Equal(2, mock.Requests.Count);
        Assert.Equal("second question", NewestUserText(mock.Requests[1]));
        // The same thread: codex sends the earlier exchange along with the new question.
        var secondInput = mock.Requests[1]["input"]!.ToJsonString();
        Assert.Contains("first question", secondInput);
        Assert.Contains("Hello from the mock.", secondInput);
        Assert.Contains("Answer briefly.", mock.Requests[1].ToJsonString());
        Assert.True(warmFirstToken < coldFirstToken, $"warm {warmFirstToken} vs cold {coldFirstToken}");
    }

    [Fact]
    public async Task Cancelling_mid_stream_closes_the_upstream_connection()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        mock.Chunks = Enumerable.Range(0, 200).Select(i => $"word{i} ").ToArray();
        mock.DeltaDelay = TimeSpan.FromMilliseconds(50);

        using var cts = new CancellationTokenSource();
        var deltas = 0;
        var cancelledAt = DateTimeOffset.MinValue;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in codex.Provider.RunAsync(CodexHarness.Ask("Count slowly"), cts.Token))
            {
                if (e is TextDelta && ++deltas == 3)
                {
                    cancelledAt = DateTimeOffset.UtcNow;
                    await cts.CancelAsync();
                }
            }
        });

        var closedAt = await mock.ClientAborted.Task.WaitAsync(TimeSpan.FromSeconds(5));
        output.WriteLine($"upstream closed {(closedAt - cancelledAt).TotalMilliseconds:0} ms after cancel");
        Assert.True(closedAt - cancelledAt < TimeSpan.FromSeconds(2), $"closed after {closedAt - cancelledAt}");
    }

    [Fact]
    public async Task Upstream_401_is_not_authenticated_within_3_seconds()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        mock.FailWithStatus = 401;

        var clock = Stopwatch.StartNew();
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"))).Failed();
        output.WriteLine($"401 reported after {clock.ElapsedMilliseconds} ms");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        Assert.Equal(ProviderErrorKind.NotAuthenticated, error.Kind);
        Assert.Equal("codex login", error.Hint);

        // The interrupted thread does not poison the process: the next turn works.
        mock.FailWithStatus = null;
        (await codex.RunAsync(CodexHarness.Ask("hi again"))).Completed();
    }

    [Fact]
    public async Task Upstream_500_is_an_upstream_failure()
    {
        // Fewer retries than codex's default (~27 s against a 500) keep the test short.
        var (mock, codex) = await StartAsync(maxRetries: 1);
        await using var _ = mock;
        await using var __ = codex;
        mock.FailWithStatus = 500;

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var clock = Stopwatch.StartNew();
        var error = (await codex.RunAsync(CodexHarness.Ask("hi"), cts.Token)).Failed();
        output.WriteLine($"500 reported after {clock.ElapsedMilliseconds} ms: {error.Message}");

        Assert.Equal(ProviderErrorKind.Upstream, error.Kind);
        Assert.True(mock.Requests.Count >= 2, "codex retried before giving up");
    }

    [Fact]
    public async Task Three_concurrent_turns_on_different_sessions_all_complete()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        mock.DeltaDelay = TimeSpan.FromMilliseconds(20);

        var turns = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => codex.RunAsync(CodexHarness.Ask($"question {i}"))));

        Assert.All(turns, t => Assert.Equal("Hello from the mock.", t.Text()));
        Assert.Equal(3, turns.Select(t => t.Completed().SessionId).Distinct().Count());
        Assert.Equal(["question 0", "question 1", "question 2"], mock.Requests.Select(NewestUserText).Order());
    }

    /// <summary>The user and assistant messages of an upstream request, in order, as (role, text).</summary>
    private static List<(string Role, string Text)> Messages(JsonNode request) =>
        [.. request["input"]!.AsArray()
            .Where(i => (string?)i!["type"] == "message" && (string?)i["role"] is "user" or "assistant")
            .Select(i => ((string)i!["role"]!, string.Concat(i["content"]!.AsArray().Select(c => (string?)c!["text"]))))];

    [Fact]
    public async Task A_chat_conversation_whose_app_server_died_is_replayed_with_its_turns_as_items()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        var environment = mock.CodexEnvironment();
        await using var codex = CodexHarness.Create(RealClis.Codex, environment);
        var first = await codex.RunAsync(CodexHarness.Ask("remember the word kumquat"));
        var session = first.Completed().SessionId!;
        var pid = codex.Provider.AppServerPid!.Value;
        // An ephemeral thread: codex wrote no rollout of it.
        Assert.Empty(Directory.GetFiles(environment["CODEX_HOME"]!, "*.jsonl", SearchOption.AllDirectories));

        using (var process = Process.GetProcessById(pid))
        {
            process.Kill(entireProcessTree: true);
        }
        await CodexFakeTests.WaitForAsync(() => codex.Provider.AppServerPid is null);

        // Nothing to resume: the server replays the conversation (TurnRun), as this second request does.
        var gone = await codex.RunAsync(CodexHarness.Ask("which word?", session));
        Assert.Equal(ProviderErrorKind.SessionNotFound, gone.Failed().Kind);
        Assert.Single(mock.Requests);
        var replay = await codex.RunAsync(new TurnRequest(CodexHarness.Model(), null,
            [TurnMessage.User("remember the word kumquat"), new TurnMessage("assistant", [new TextPart(first.Text())]), TurnMessage.User("which word?")]));

        Assert.Equal("Hello from the mock.", replay.Text());
        Assert.NotEqual(pid, codex.Provider.AppServerPid);
        // The earlier turn as messages of their own, as a resumed thread would send them, then the new one.
        Assert.Equal([("user", "remember the word kumquat"), ("assistant", "Hello from the mock."), ("user", "which word?")], Messages(mock.Requests[^1]));
    }

    [Fact]
    public async Task A_stored_responses_thread_survives_the_app_server_dying_by_thread_resume()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        // A stored response's conversation may be continued by previous_response_id: its thread is kept on disk.
        var first = await codex.RunAsync(CodexHarness.Ask("remember the word kumquat") with { Resumable = true });
        var session = first.Completed().SessionId!;
        var pid = codex.Provider.AppServerPid!.Value;

        using (var process = Process.GetProcessById(pid))
        {
            process.Kill(entireProcessTree: true);
        }
        await CodexFakeTests.WaitForAsync(() => codex.Provider.AppServerPid is null);

        var second = await codex.RunAsync(CodexHarness.Ask("which word?", session));
        Assert.Equal(session, second.Completed().SessionId);
        Assert.NotEqual(pid, codex.Provider.AppServerPid);
        Assert.Contains("remember the word kumquat", mock.Requests[^1]["input"]!.ToJsonString());
        Assert.Equal("which word?", NewestUserText(mock.Requests[^1]));
    }

    [Fact]
    public async Task Threads_beyond_the_live_limit_are_unloaded_then_replayed_in_chat_and_resumed_as_an_agent()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        await using var chat = CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment(), maxLiveSessions: 1);
        var a = (await chat.RunAsync(CodexHarness.Ask("thread A says apricot"))).Completed().SessionId!;
        await chat.RunAsync(CodexHarness.Ask("thread B says banana"));
        await CodexFakeTests.WaitForAsync(() => chat.Logs.Lines.Any(l => l.Contains("Unloading idle Codex thread " + a)));
        Assert.Equal(ProviderErrorKind.SessionNotFound, (await chat.RunAsync(CodexHarness.Ask("and now?", a))).Failed().Kind);

        await using var agent = CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment(), maxLiveSessions: 1, agentDirectory: TempDir.Create("codex-agent"));
        var c = (await agent.RunAsync(CodexHarness.Ask("thread C says cherry"))).Completed().SessionId!;
        var d = (await agent.RunAsync(CodexHarness.Ask("thread D says durian"))).Completed().SessionId!;
        await CodexFakeTests.WaitForAsync(() => agent.Logs.Lines.Any(l => l.Contains("Unloading idle Codex thread " + c)));

        var again = await agent.RunAsync(CodexHarness.Ask("and now?", c));

        Assert.Equal(c, again.Completed().SessionId);
        var input = mock.Requests[^1]["input"]!.ToJsonString();
        Assert.Contains("thread C says cherry", input);
        Assert.DoesNotContain("durian", input);
        Assert.NotEqual(c, d);
    }

    [Fact]
    public async Task An_unknown_session_is_session_not_found()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;
        var error = (await codex.RunAsync(CodexHarness.Ask("hi", Guid.CreateVersion7().ToString()))).Failed();
        Assert.Equal(ProviderErrorKind.SessionNotFound, error.Kind);
        Assert.Empty(mock.Requests);
        var garbage = (await codex.RunAsync(CodexHarness.Ask("hi", "not-a-thread"))).Failed();
        Assert.Equal(ProviderErrorKind.SessionNotFound, garbage.Kind);
    }

    [Fact]
    public async Task The_exec_fallback_runs_the_real_cli_with_the_prompt_on_stdin()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        await using var codex = CodexHarness.Create(RealClis.Codex, mock.CodexEnvironment(), forceMode: "exec");
        mock.Chunks = ["exec ", "は", " fine"];

        var events = await codex.RunAsync(new TurnRequest(CodexHarness.Model(), "Be brief.", [TurnMessage.User("hello 🙂")], ReasoningEffort: "low"));

        Assert.Equal("exec は fine", events.Text());
        Assert.Equal(new TokenUsage(21, 6, 4, 2), events.Usage());
        Assert.Null(events.Completed().SessionId);
        var sent = Assert.Single(mock.Requests);
        Assert.Equal("[system]: Be brief.\n\n[user]: hello 🙂", NewestUserText(sent));
        Assert.Equal("low", (string?)sent["reasoning"]?["effort"]);
        Assert.Null(codex.Provider.AppServerPid);
        Assert.Equal("exec", codex.Probe.Codex.Mode);
    }

    [Fact]
    public async Task The_app_server_is_codexs_native_binary_with_the_wrappers_environment_and_no_node_in_front()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        await using var __ = codex;

        var events = await codex.RunAsync(CodexHarness.Ask("Say hello"));

        Assert.Equal("Hello from the mock.", events.Text());
        var pid = codex.Provider.AppServerPid!.Value;
        var exe = File.ResolveLinkTarget($"/proc/{pid}/exe", returnFinalTarget: false)!.FullName;
        var packageRoot = Path.GetFullPath(Path.Combine(RealClis.NodeModulesBin, "..", "@openai", "codex"));
        Assert.Equal(Path.GetFullPath(Path.Combine(packageRoot, "..", "codex-linux-x64", "vendor", "x86_64-unknown-linux-musl", "bin", "codex")), exe);
        // Started by this process itself: no node wrapper between us and codex.
        Assert.Equal(Environment.ProcessId, ParentOf(pid));
        var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0');
        Assert.Contains($"CODEX_MANAGED_PACKAGE_ROOT={packageRoot}", environment);
        Assert.Contains("CODEX_MANAGED_BY_NPM=1", environment);
        output.WriteLine($"app-server {pid}: {exe}, VmRSS {File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS", StringComparison.Ordinal))}");

        // A follow-up still runs on the same process and thread.
        var second = await codex.RunAsync(CodexHarness.Ask("again", events.Completed().SessionId));
        Assert.Equal("Hello from the mock.", second.Text());
        Assert.Equal(pid, codex.Provider.AppServerPid);
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task After_disposal_no_codex_process_remains()
    {
        var (mock, codex) = await StartAsync();
        await using var _ = mock;
        (await codex.RunAsync(CodexHarness.Ask("hi"))).Completed();
        var pid = codex.Provider.AppServerPid!.Value;
        Assert.True(CodexHarness.ProcessExists(pid));

        await codex.DisposeAsync();

        await CodexFakeTests.WaitForAsync(() => !CodexHarness.ProcessExists(pid));
        Assert.Equal(0, codex.Children.Count);
    }
}
