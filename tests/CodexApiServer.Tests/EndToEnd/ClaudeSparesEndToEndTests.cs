using System.Text.Json.Nodes;
using CodexApiServer.Children;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// Warm Claude processes as a user sees them through HTTP with the real CLIs against the mocks:
/// spares follow demand (none for a one-off, more for a burst), warm at start, and only the
/// caller's turns reach the upstream.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class ClaudeSparesEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Model = RealStackFixture.ClaudeModel;

    [Fact(Timeout = 90_000)]
    public async Task A_one_off_system_prompt_leaves_no_spare_and_a_burst_on_one_key_gets_more_than_one()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(extraConfig: """{"maxSparesPerModel":3}""");
        var oneOff = "You answer in haiku. " + Guid.NewGuid();

        var (response, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("system", oneOff), ("user", "hi")));
        Assert.Equal(200, (int)response.StatusCode);
        // Time for a spare to have started, had one been wanted.
        await Task.Delay(1500);
        var listed = await Processes.ListedAsync(server.Client, _ => true);
        output.WriteLine($"after one conversation: {string.Join(", ", listed)}");
        Assert.DoesNotContain(listed, p => p.Role == "spare");
        Assert.Single(server.Claude.StartedPids);

        // Three new conversations back to back on another key.
        for (var i = 0; i < 3; i++)
        {
            var (burst, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("system", "Be brief."), ("user", "hi " + i)));
            Assert.Equal(200, (int)burst.StatusCode);
        }
        listed = await Processes.ListedAsync(server.Client, l => l.Count(p => p.Role == "spare") > 1);
        output.WriteLine($"after a burst of three: {string.Join(", ", listed)}");
        Assert.InRange(listed.Count(p => p.Role == "spare"), 2, 3);
    }

    [Fact(Timeout = 90_000)]
    public async Task A_spare_taken_while_another_is_ready_is_replaced_after_the_turn_s_first_output_and_the_last_one_at_once()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(maxSpares: 2);
        // Two new conversations on one key: it wants two spares from then on. One of them goes on, so the
        // key's processes stay with their conversations (none is rewound into a spare, see the test below).
        string? answer = null;
        for (var i = 0; i < 2; i++)
        {
            var (r, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", "hi " + i)));
            Assert.Equal(200, (int)r.StatusCode);
            answer ??= (string)body["choices"]![0]!["message"]!["content"]!;
        }
        var (continued, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", "hi 0"), ("assistant", answer!), ("user", "and then?")));
        Assert.Equal(200, (int)continued.StatusCode);
        await Processes.ListedAsync(server.Client, l => l.Count(p => p.Role == "spare") == 2);
        var started = server.Claude.StartedPids.Count;

        // The next one takes a spare while the other is ready: the upstream holds its first token for 2 s.
        stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude(["Hello."]) with { ChunkDelay = TimeSpan.FromSeconds(2) };
        var before = stack.ClaudeUpstream.MessageRequests.Length;
        var turn = server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", "hi 2")));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => stack.ClaudeUpstream.MessageRequests.Length > before, TimeSpan.FromSeconds(20)));
        await Task.Delay(1000);
        output.WriteLine($"while the turn waits for its first token: {server.Claude.StartedPids.Count - started} claude started");
        Assert.Equal(started, server.Claude.StartedPids.Count);
        var (response, _) = await turn;
        Assert.Equal(200, (int)response.StatusCode);
        await Processes.ListedAsync(server.Client, l => l.Count(p => p.Role == "spare") == 2);
        Assert.Equal(started + 1, server.Claude.StartedPids.Count);

        // Both spares taken at once: the second is the last, and its replacement starts before the turn has output.
        started = server.Claude.StartedPids.Count;
        before = stack.ClaudeUpstream.MessageRequests.Length;
        var turns = new[] { "hi 3", "hi 4" }.Select(text => server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", text)))).ToArray();
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => stack.ClaudeUpstream.MessageRequests.Length >= before + 2, TimeSpan.FromSeconds(20)));
        output.WriteLine($"while two turns wait for their first token: {server.Claude.StartedPids.Count - started} claude started");
        Assert.True(server.Claude.StartedPids.Count > started, "the last spare taken is replaced at once");
        foreach (var t in turns)
        {
            Assert.Equal(200, (int)(await t).Response.StatusCode);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task New_conversations_that_are_not_continued_reuse_a_rewound_process_and_a_continuation_is_replayed_elsewhere()
    {
        await using var server = await StartNumberingAnswersAsync();
        var secrets = Secrets(7);
        var replies = new List<string>();
        var started = new List<int>();
        var before = stack.ClaudeUpstream.MessageRequests.Length;

        // Six one-off conversations on one key, one after another (a batch job).
        for (var i = 0; i < 6; i++)
        {
            var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", secrets[i] + " say hi")));
            Assert.Equal(200, (int)response.StatusCode);
            replies.Add((string)body["choices"]![0]!["message"]!["content"]!);
            await Task.Delay(300);
            started.Add(server.Claude.StartedPids.Count);
        }
        output.WriteLine($"claude processes started after each conversation: {string.Join(" ", started)}");
        // From the third on, each takes the process of a finished one (rewound): no claude starts any more.
        Assert.Equal(started[2], started[5]);
        Assert.True(started[5] <= 3, $"{started[5]} claude processes for six one-off conversations");
        // ...and each conversation's upstream request holds its own message, nothing of another's.
        var sent = stack.ClaudeUpstream.MessageRequests.Skip(before).Select(r => r.Body).ToArray();
        Assert.Equal(6, sent.Length);
        for (var i = 0; i < 6; i++)
        {
            Assert.Contains(secrets[i], sent[i], StringComparison.Ordinal);
            Assert.DoesNotContain("answer-", sent[i], StringComparison.Ordinal);
            foreach (var other in secrets.Where((_, j) => j != i))
            {
                Assert.DoesNotContain(other, sent[i], StringComparison.Ordinal);
            }
        }

        // The first conversation goes on after all: its process has served others since, so the server replays
        // it as a new conversation on another process, with its whole history and only that.
        var (goOn, goOnBody) = await server.PostJsonAsync("/v1/chat/completions",
            Wire.Chat(Model, false, ("user", secrets[0] + " say hi"), ("assistant", replies[0]), ("user", "and then?")));
        Assert.Equal(200, (int)goOn.StatusCode);
        var replayed = stack.ClaudeUpstream.MessageRequests[^1].Body;
        Assert.Contains(secrets[0], replayed, StringComparison.Ordinal);
        Assert.Contains(replies[0], replayed, StringComparison.Ordinal);
        Assert.Contains("and then?", replayed, StringComparison.Ordinal);
        for (var i = 1; i < 6; i++)
        {
            Assert.DoesNotContain(secrets[i], replayed, StringComparison.Ordinal);
            Assert.DoesNotContain(replies[i], replayed, StringComparison.Ordinal);
        }
        output.WriteLine($"the continuation was answered {(string)goOnBody["choices"]![0]!["message"]!["content"]!}");

        // A conversation went on: the key's processes stay with their conversations from now on, so a new
        // one keeps the spare it takes and another claude starts to be the next spare.
        var count = server.Claude.StartedPids.Count;
        var (next, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", secrets[6] + " say hi")));
        Assert.Equal(200, (int)next.StatusCode);
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => server.Claude.StartedPids.Count > count, TimeSpan.FromSeconds(10)),
            "a spare is started once a new conversation keeps its process");
    }

    [Fact(Timeout = 120_000)]
    public async Task A_stored_response_whose_process_was_reused_continues_from_its_own_chain()
    {
        await using var server = await StartNumberingAnswersAsync();
        var secrets = Secrets(5);
        var ids = new List<string>();
        var texts = new List<string>();
        // Five one-off Responses calls on one key: from the third on, each runs on a finished one's process.
        foreach (var secret in secrets)
        {
            var (response, body) = await server.PostJsonAsync("/v1/responses", Wire.Response(Model, secret + " say hi", stream: false));
            Assert.Equal(200, (int)response.StatusCode);
            ids.Add((string)body["id"]!);
            texts.Add((string)body["output"]![0]!["content"]![0]!["text"]!);
        }
        Assert.True(server.Claude.StartedPids.Count <= 3, $"{server.Claude.StartedPids.Count} claude processes for five one-off conversations");
        var store = server.App.Services.GetRequiredService<CodexApiServer.Storage.ResponseStore>();

        // The first goes on with previous_response_id: its process has served others since, so the stored
        // chain is replayed on another process, with only that conversation in it.
        var (next, nextBody) = await server.PostJsonAsync("/v1/responses", Wire.Response(Model, "and then?", stream: false, previous: ids[0]));
        Assert.Equal(200, (int)next.StatusCode);
        var replayed = stack.ClaudeUpstream.MessageRequests[^1].Body;
        Assert.Contains(secrets[0], replayed, StringComparison.Ordinal);
        Assert.Contains(texts[0], replayed, StringComparison.Ordinal);
        Assert.Contains("and then?", replayed, StringComparison.Ordinal);
        for (var i = 1; i < secrets.Length; i++)
        {
            Assert.DoesNotContain(secrets[i], replayed, StringComparison.Ordinal);
            Assert.DoesNotContain(texts[i], replayed, StringComparison.Ordinal);
        }
        // A new session took it up (a live continuation would have kept the first one's).
        Assert.NotEqual(store.Get(ids[0])!.SessionId, store.Get((string)nextBody["id"]!)!.SessionId);
        output.WriteLine($"continued as {(string)nextBody["id"]!}: {(string)nextBody["output"]![0]!["content"]![0]!["text"]!}");
    }

    [Fact(Timeout = 120_000)]
    public async Task Only_the_callers_turns_reach_the_upstream_in_chat_mode()
    {
        stack.ResetMocks();
        // As a subscription whose account flags have Claude Code name each new session: the flag as
        // claude caches it, and none of the switches the other tests set that would hide the request.
        var home = TempDir.Create("claude-home-titles");
        await File.WriteAllTextAsync(Path.Combine(home, ".claude.json"), """{"cachedGrowthBookFeatures":{"tengu_quizzical_thimble":false}}""");
        var environment = new Dictionary<string, string?>(stack.ClaudeEnvironment)
        {
            ["HOME"] = home,
            ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = null,
            ["DISABLE_TELEMETRY"] = null,
        };
        try
        {
            // The control: this claude in this environment does send a title request of its own.
            var direct = await DirectTurnRequestsAsync(environment);
            output.WriteLine($"claude started directly: {direct.Length} upstream requests");
            Assert.Contains(direct, r => r.Contains("You are naming", StringComparison.Ordinal));

            await using var server = await RealStackServer.StartAsync(null, """{"maxSparesPerModel":0}""",
                new CodexProviderOptions { Environment = stack.CodexEnvironment }, new ClaudeProviderOptions { Environment = environment });
            var before = stack.ClaudeUpstream.MessageRequests.Length;
            const int Conversations = 3;
            for (var i = 0; i < Conversations; i++)
            {
                var (response, _) = await server.PostJsonAsync("/v1/chat/completions",
                    Wire.Chat(Model, false, ("user", "Tell me about the history of Rome in some detail, please " + i)));
                Assert.Equal(200, (int)response.StatusCode);
            }
            // A title request comes after the turn's answer: give it the time it would take.
            await Task.Delay(3000);
            var sent = stack.ClaudeUpstream.MessageRequests.Skip(before).ToArray();
            output.WriteLine($"through the server: {Conversations} conversations, {sent.Length} upstream requests");
            Assert.Equal(Conversations, sent.Length);
            Assert.DoesNotContain(sent, r => r.Body.Contains("You are naming", StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(home);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Warm_on_start_has_the_codex_app_server_and_a_spare_for_the_most_used_claude_model_before_the_first_request()
    {
        stack.ResetMocks();
        // A first start (empty usage log): the codex app-server only.
        var first = await stack.StartServerAsync(extraConfig: """{"warmOnStart":true}""");
        var dataDir = first.DataDir;
        try
        {
            var listed = await Processes.ListedAsync(first.Client, l => l.Any(p => p.Role == "app-server"));
            Assert.NotNull(first.Codex.AppServerPid);
            Assert.Empty(first.Claude.StartedPids);
            output.WriteLine($"first start, before any request: {string.Join(", ", listed)}");
            var (response, _) = await first.PostJsonAsync("/v1/chat/completions", Wire.Chat(Model, false, ("user", "hi")));
            Assert.Equal(200, (int)response.StatusCode);
            await first.StopAsync();
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        // The restart: the usage log names the Claude model of the last day.
        await using var second = await stack.StartServerAsync(dataDir, """{"warmOnStart":true}""");
        var ready = await Processes.ListedAsync(second.Client, l => l.Any(p => p.Role == "app-server") && l.Any(p => p.Role == "spare"));
        output.WriteLine($"restart, before any request: {string.Join(", ", ready)}");
        var spare = Assert.Single(second.Claude.StartedPids);
        Assert.Contains("--model=" + Model, Processes.CommandLine(spare), StringComparison.Ordinal);
        var appServer = second.Codex.AppServerPid;
        Assert.NotNull(appServer);

        // The first requests run on them: no new process.
        var (claude, claudeBody) = await second.PostJsonAsync("/v1/responses", Wire.Response(Model, "hi", stream: false));
        Assert.Equal(200, (int)claude.StatusCode);
        var session = second.App.Services.GetRequiredService<CodexApiServer.Storage.ResponseStore>().Get((string)claudeBody["id"]!)!.SessionId!;
        Assert.Equal(spare, second.Claude.PidOf(session));
        var (codex, _) = await second.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
        Assert.Equal(200, (int)codex.StatusCode);
        Assert.Equal(appServer, second.Codex.AppServerPid);
    }

    /// <summary>A server with one spare per key at most, on a mock whose answers are numbered (answer-1, answer-2, ...): each is told apart upstream.</summary>
    private async Task<RealStackServer> StartNumberingAnswersAsync()
    {
        stack.ResetMocks();
        var server = await stack.StartServerAsync(maxSpares: 1);
        var answers = 0;
        stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude([$"answer-{Interlocked.Increment(ref answers)}"]);
        return server;
    }

    /// <summary>Words only the conversation they start can have sent upstream.</summary>
    private static string[] Secrets(int count) => Enumerable.Range(0, count).Select(i => $"secret-{i}-{Guid.NewGuid():N}").ToArray();

    /// <summary>One new conversation on claude started directly in <paramref name="environment"/>; the upstream bodies it caused.</summary>
    private async Task<string[]> DirectTurnRequestsAsync(IReadOnlyDictionary<string, string?> environment)
    {
        var before = stack.ClaudeUpstream.MessageRequests.Length;
        var cwd = TempDir.Create("claude-direct");
        using var children = new ChildProcesses(NullLogger<ChildProcesses>.Instance);
        try
        {
            using var process = children.Start(RealClis.Claude,
                ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--model=" + Model, "--system-prompt=", .. ClaudeArgs.ChatModeFlags], cwd, environment);
            await process.StandardInput.WriteLineAsync("""{"type":"user","message":{"role":"user","content":[{"type":"text","text":"Tell me about the history of Rome in some detail, please"}]}}""");
            await process.StandardInput.FlushAsync();
            _ = process.StandardError.ReadToEndAsync();
            while (await process.StandardOutput.ReadLineAsync() is { } line && !line.Contains("\"type\":\"result\"", StringComparison.Ordinal))
            {
            }
            await ClaudeTestHarness.WaitUntilAsync(() => stack.ClaudeUpstream.MessageRequests.Length > before + 1, TimeSpan.FromSeconds(5));
        }
        finally
        {
            TempDir.Delete(cwd);
        }
        return stack.ClaudeUpstream.MessageRequests.Skip(before).Select(r => r.Body).ToArray();
    }
}
