using System.Text.Json.Nodes;
using CodexApiServer.Storage;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>POST /v1/responses through our server and the real CLIs, continued live and across a server restart.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class ResponsesEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private const string Endpoint = "POST /v1/responses/";

    private static readonly string[] EventOrder =
    [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
    ];

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Streamed_response_is_golden_and_previous_response_id_continues_the_live_session(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;

        using var response = await server.PostAsync("/v1/responses", Wire.Response(model, "この言葉を覚えて: キンカン 🍊", stream: true));
        var raw = await response.Content.ReadAsStringAsync();

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var frames = Api.ApiServer.ParseSse(raw).Where(f => !f.IsComment).ToList();
        Assert.DoesNotContain(frames, f => f.Data == "[DONE]");
        var events = frames.Select(f => JsonNode.Parse(f.Data!)!).ToList();
        Assert.Equal(frames.Select(f => f.Event), events.Select(e => (string?)e["type"]));
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => (int)e["sequence_number"]!));
        var types = events.Select(e => (string)e["type"]!).ToList();
        var deltas = types.Count(t => t == "response.output_text.delta");
        Assert.True(deltas >= 3, raw);
        Assert.Equal(EventOrder, types.Where((t, i) => i == 0 || t != types[i - 1]));
        Assert.Equal(RealStackFixture.Text, string.Concat(events.Where(e => (string)e["type"]! == "response.output_text.delta").Select(e => (string)e["delta"]!)));
        Assert.Equal(RealStackFixture.Text, (string?)events.Single(e => (string)e["type"]! == "response.output_text.done")["text"]);
        var created = events[0]["response"]!;
        var completed = events[^1]["response"]!;
        Assert.Equal("in_progress", (string?)created["status"]);
        Assert.Equal("completed", (string?)completed["status"]);
        Assert.Equal(RealStackFixture.Text, (string?)completed["output"]![0]!["content"]![0]!["text"]);
        AssertUsage(model, completed["usage"]!);
        var firstId = (string)created["id"]!;
        Assert.Equal(firstId, (string?)completed["id"]);
        await server.AssertUsageRowAsync(response, model, Endpoint);

        var store = server.App.Services.GetRequiredService<ResponseStore>();
        var session = store.Get(firstId)!.SessionId!;
        var pid = server.ProcessOf(model, session);
        Assert.NotNull(pid);
        var before = Upstream.Count(stack, model);

        var (next, body) = await server.PostJsonAsync("/v1/responses", Wire.Response(model, "覚えた言葉は?", stream: false, previous: firstId));

        Assert.Equal(200, (int)next.StatusCode);
        Assert.Equal(firstId, (string?)body["previous_response_id"]);
        Assert.Equal("completed", (string?)body["status"]);
        Assert.Equal(RealStackFixture.Text, (string?)body["output"]![0]!["content"]![0]!["text"]);
        Assert.Equal(session, store.Get((string)body["id"]!)!.SessionId);
        Assert.Equal(pid, server.ProcessOf(model, session));
        Assert.Equal(before + 1, Upstream.Count(stack, model));
        AssertContinued(model, "この言葉を覚えて: キンカン 🍊", "覚えた言葉は?");
        await server.AssertUsageRowAsync(next, model, Endpoint);
    }

    [Theory(Timeout = 90_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task After_a_restart_previous_response_id_resumes_the_cli_session_and_no_child_survives(string model)
    {
        stack.ResetMocks();
        var first = await stack.StartServerAsync();
        string dataDir = first.DataDir;
        string firstId;
        string session;
        try
        {
            var (response, body) = await first.PostJsonAsync("/v1/responses", Wire.Response(model, "ペリカンという言葉を覚えて 🐦", stream: false));
            Assert.Equal(200, (int)response.StatusCode);
            await first.AssertUsageRowAsync(response, model, Endpoint);
            firstId = (string)body["id"]!;
            session = first.App.Services.GetRequiredService<ResponseStore>().Get(firstId)!.SessionId!;
            if (model == RealStackFixture.ClaudeModel)
            {
                // A key seen once keeps no spare: what must not outlive the server is the conversation's process.
                Assert.Equal(0, first.Claude.SpareCount);
            }

            var tree = first.ProviderProcessTree();
            Assert.NotEmpty(tree);
            output.WriteLine($"{model}: processes before stop: {string.Join(", ", tree.Select(p => $"{p} {Processes.CommandLine(p)?.Split(' ').FirstOrDefault()}"))}");
            await first.StopAsync();
            await Processes.AssertAllEndAsync(tree, TimeSpan.FromSeconds(5));
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        await using var second = await stack.StartServerAsync(dataDir);
        var before = Upstream.Count(stack, model);
        var (next, nextBody) = await second.PostJsonAsync("/v1/responses", Wire.Response(model, "覚えた言葉は?", stream: false, previous: firstId));

        Assert.Equal(200, (int)next.StatusCode);
        Assert.Equal(RealStackFixture.Text, (string?)nextBody["output"]![0]!["content"]![0]!["text"]);
        Assert.Equal(before + 1, Upstream.Count(stack, model));
        // The CLI's own stored session came back (thread/resume, --resume): the earlier turn arrives as its
        // own turn, not as a transcript we replayed into the new message.
        AssertContinued(model, "ペリカンという言葉を覚えて 🐦", "覚えた言葉は?");
        Assert.Equal(session, second.App.Services.GetRequiredService<ResponseStore>().Get((string)nextBody["id"]!)!.SessionId);
        if (model == RealStackFixture.ClaudeModel)
        {
            var argv = Processes.CommandLine(second.Claude.PidOf(session)!.Value);
            Assert.Contains("--resume " + session, argv, StringComparison.Ordinal);
        }
        await second.AssertUsageRowAsync(next, model, Endpoint);

        var secondTree = second.ProviderProcessTree();
        await second.StopAsync();
        await Processes.AssertAllEndAsync(secondTree, TimeSpan.FromSeconds(5));
    }

    [Theory(Timeout = 60_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task Deleting_a_response_removes_the_clis_transcript_of_its_conversation(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;
        var (response, body) = await server.PostJsonAsync("/v1/responses", Wire.Response(model, "秘密: 青い象", stream: false));
        Assert.Equal(200, (int)response.StatusCode);
        var id = (string)body["id"]!;
        var session = server.App.Services.GetRequiredService<ResponseStore>().Get(id)!.SessionId!;
        // codex keeps rollouts under CODEX_HOME/sessions, claude its transcripts under HOME/.claude/projects.
        var home = model == RealStackFixture.CodexModel ? stack.CodexEnvironment["CODEX_HOME"]! : stack.ClaudeEnvironment["HOME"]!;
        string[] Transcripts() => Directory.GetFiles(home, "*.jsonl", SearchOption.AllDirectories).Where(f => Path.GetFileName(f).Contains(session, StringComparison.Ordinal)).ToArray();
        Assert.True(await Providers.ClaudeTestHarness.WaitUntilAsync(() => Transcripts().Length > 0, TimeSpan.FromSeconds(10)), "the CLI wrote no transcript to remove");
        Assert.Contains(Transcripts(), f => File.ReadAllText(f).Contains("青い象", StringComparison.Ordinal));

        using var deleted = await server.Client.DeleteAsync("/v1/responses/" + id);

        Assert.Equal(200, (int)deleted.StatusCode);
        Assert.Empty(Transcripts());
        if (model == RealStackFixture.ClaudeModel)
        {
            Assert.Null(server.Claude.PidOf(session));
        }
        var (gone, _) = await server.PostJsonAsync("/v1/responses", Wire.Response(model, "秘密は?", stream: false, previous: id));
        Assert.Equal(404, (int)gone.StatusCode);
    }

    [Theory(Timeout = 90_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task A_stateless_request_resending_the_transcript_continues_the_live_session_with_only_the_new_message(string model)
    {
        stack.ResetMocks();
        var server = stack.Server;
        // As the Agents SDK (store left on) and then the Codex CLI (store: false) do: no previous_response_id, the
        // whole transcript each time, our output items sent back as they came (reasoning items included).
        var transcript = new JsonArray(Message("user", "input_text", "合言葉を覚えて: すだち 🍋"));
        var (first, firstBody) = await server.PostJsonAsync("/v1/responses", new JsonObject { ["model"] = model, ["input"] = transcript.DeepClone() });
        Assert.Equal(200, (int)first.StatusCode);
        var session = server.App.Services.GetRequiredService<ResponseStore>().Get((string)firstBody["id"]!)!.SessionId!;
        var pid = server.ProcessOf(model, session);
        Assert.NotNull(pid);

        foreach (var (question, store) in new[] { ("合言葉は?", false), ("もう一度、合言葉は?", false) })
        {
            foreach (var item in firstBody["output"]!.AsArray())
            {
                transcript.Add(item!.DeepClone());
            }
            transcript.Add(Message("user", "input_text", question));
            var before = Upstream.Count(stack, model);
            (first, firstBody) = await server.PostJsonAsync("/v1/responses",
                new JsonObject { ["model"] = model, ["store"] = store, ["input"] = transcript.DeepClone() });

            Assert.Equal(200, (int)first.StatusCode);
            Assert.Equal(RealStackFixture.Text, (string?)firstBody["output"]![0]!["content"]![0]!["text"]);
            Assert.Equal(before + 1, Upstream.Count(stack, model));
            // The same CLI session, given only the new message: the earlier turns arrive as the session's own turns,
            // not flattened into one new message of a new session.
            var userTexts = Upstream.UserTexts(stack, model);
            output.WriteLine($"{model}: upstream user turns {string.Join(" | ", userTexts)}");
            Assert.Equal(transcript.Where(i => (string?)i!["role"] == "user").Select(i => (string)i!["content"]![0]!["text"]!), userTexts);
            Assert.Equal(transcript.Count(i => (string?)i!["role"] == "assistant"), Upstream.Turns(stack, model).Count(t => t == ("assistant", RealStackFixture.Text)));
            Assert.Equal(pid, server.ProcessOf(model, session));
            if (model == RealStackFixture.CodexModel)
            {
                // codex keys its upstream prompt cache by thread: the same thread as the first turn.
                Assert.Equal(session, (string?)stack.CodexUpstream.Requests[^1]["prompt_cache_key"]);
            }
        }
    }

    private static JsonObject Message(string role, string type, string text) =>
        new() { ["type"] = "message", ["role"] = role, ["content"] = new JsonArray(new JsonObject { ["type"] = type, ["text"] = text }) };

    private void AssertContinued(string model, string earlier, string now)
    {
        var turns = Upstream.Turns(stack, model);
        Assert.Contains(("assistant", RealStackFixture.Text), turns);
        Assert.Equal([earlier, now], Upstream.UserTexts(stack, model));
    }

    private static void AssertUsage(string model, JsonNode usage)
    {
        var expected = RealStackFixture.UsageOf(model);
        Assert.Equal(expected.Prompt, (long)usage["input_tokens"]!);
        Assert.Equal(expected.Completion, (long)usage["output_tokens"]!);
        Assert.Equal(expected.Prompt + expected.Completion, (long)usage["total_tokens"]!);
        Assert.Equal(expected.Cached, (long)usage["input_tokens_details"]!["cached_tokens"]!);
        Assert.Equal(expected.Reasoning, (long)usage["output_tokens_details"]!["reasoning_tokens"]!);
    }
}
