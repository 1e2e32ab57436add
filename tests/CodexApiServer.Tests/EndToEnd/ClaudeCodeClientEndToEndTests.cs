using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// Claude Code itself as the client of our /v1/messages (issue 13): the real `claude -p` (the
/// "outer" one) with ANTHROPIC_BASE_URL at our server, which drives a second real Claude Code or
/// Codex (the "inner" one) against the mock model servers.
/// </summary>
/// <remarks>
/// What claude 2.1.331 sends as a client, seen against a logging stub, and what these tests rely on:
/// one POST /v1/messages?beta=true per model step (no count_tokens, no /v1/models in -p mode),
/// stream:true, x-api-key, anthropic-version 2023-06-01, a long anthropic-beta list; 12 custom tools
/// (Read among them, one with "defer_loading"); thinking and output_config; model "claude-opus-5-5"
/// when nothing is set, else ANTHROPIC_MODEL verbatim. With claude-*-5-5 and unknown models (so
/// gpt-5.2-codex too, but not claude-sonnet-4-5) the environment text comes as a message with role
/// "system" right after the user's first one: as blocks (with its own output_config on 5-5 models)
/// at first, as a string in every later request, between that user message and the assistant's.
/// It reads a tool_use's input only from input_json_delta events. A stream that breaks (no
/// message_stop, or an error event) makes it send the whole request again with stream:false, even
/// with CLAUDE_CODE_MAX_RETRIES=0; the tests turn that off so a broken stream fails here.
/// </remarks>
[Collection(EndToEndGroup.Name)]
public sealed class ClaudeCodeClientEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromSeconds(90);

    /// <summary>
    /// `claude -p` prints the inner model's answer: a Claude model named as Claude Code names it
    /// (its default when nothing is set is claude-opus-5-5), and a Codex model through ANTHROPIC_MODEL.
    /// </summary>
    [Theory(Timeout = 150_000)]
    [InlineData(RealStackFixture.ClaudeModel, RealStackFixture.ClaudeModel)]
    [InlineData(null, "claude-opus-5-5")]
    [InlineData(RealStackFixture.CodexModel, RealStackFixture.CodexModel)]
    public async Task Claude_code_as_the_client_prints_the_answer_of_the_model_behind_us(string? anthropicModel, string expectedModel)
    {
        stack.ResetMocks();
        var before = Upstream.Count(stack, expectedModel);
        var lastRow = LastUsageRowId();
        var nonce = Guid.NewGuid().ToString("N")[..10];
        using var work = new WorkDir();

        var run = await RunOuterClaudeAsync(anthropicModel, $"Say hello to {nonce}.", work.Path, []);

        AssertSucceeded(run);
        Assert.Equal(RealStackFixture.Text, run.Stdout.TrimEnd('\n'));
        // One outer request, one inner model call: a second would be Claude Code's non-streaming retry
        // (turned off here) or the server running the turn twice.
        Assert.Equal(before + 1, Upstream.Count(stack, expectedModel));
        Assert.Contains(RawTurns(expectedModel), t => t.Role == "user" && t.Text.Contains($"Say hello to {nonce}.", StringComparison.Ordinal));
        if (expectedModel != RealStackFixture.CodexModel)
        {
            Assert.Equal(expectedModel, (string?)stack.ClaudeUpstream.MessageRequests[^1].Json["model"]);
        }
        var row = Assert.Single(await UsageRowsAfterAsync(lastRow, 1));
        Assert.Equal((expectedModel, expectedModel == RealStackFixture.CodexModel ? "codex" : "claude", 200), (row.Model, row.Provider, row.Status));
    }

    /// <summary>
    /// The inner model calls Read, one of the OUTER Claude Code's own tools: our server hands the call
    /// to the outer as tool_use, the outer reads the file in its own folder and sends the tool_result,
    /// the held inner turn goes on with it, and the outer prints the inner model's final answer.
    /// </summary>
    [Theory(Timeout = 150_000)]
    [InlineData(RealStackFixture.ClaudeModel, RealStackFixture.ClaudeModel)]
    [InlineData(null, "claude-opus-5-5")]
    [InlineData(RealStackFixture.CodexModel, RealStackFixture.CodexModel)]
    public async Task Claude_code_runs_its_own_Read_tool_for_the_model_behind_us(string? anthropicModel, string model)
    {
        stack.ResetMocks();
        var before = Upstream.Count(stack, model);
        var lastRow = LastUsageRowId();
        using var work = new WorkDir();
        var secret = $"NOTE-{Guid.NewGuid():N} héllo wörld ✓";
        var note = Path.Combine(work.Path, "note.txt");
        await File.WriteAllTextAsync(note, secret + "\n");
        var marker = ToolScript.Marker("Read", new JsonObject { ["file_path"] = note }.ToJsonString());

        var run = await RunOuterClaudeAsync(anthropicModel, $"Read my note. {marker}", work.Path, ["--allowedTools", "Read"]);

        AssertSucceeded(run);
        var answer = run.Stdout.TrimEnd('\n');
        Assert.StartsWith("TOOL RESULTS: ", answer);
        Assert.Contains(secret, answer);
        Assert.DoesNotContain("(error)", answer);
        // The inner model was asked twice: the call, then the answer with the result.
        Assert.Equal(before + 2, Upstream.Count(stack, model));
        var (declared, results) = ToolStepsSentUpstream(model, before);
        Assert.All(declared, names => Assert.Contains(names, n => n == "Read" || n.EndsWith("__Read", StringComparison.Ordinal)));
        Assert.Contains(results, r => r.Contains(secret, StringComparison.Ordinal));
        // The outer Claude Code made two requests: the one answered with tool_use, and the one carrying the tool_result.
        var rows = await UsageRowsAfterAsync(lastRow, 2);
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal((model, 200), (r.Model, r.Status)));
    }

    /// <summary>
    /// `claude -p --continue` sends the whole conversation again (our first answer as the assistant turn,
    /// cache_control moved to the new last block, and with claude-*-5-5 models its role:system message
    /// turned from blocks into a string): the model behind us gets the second turn after the first one
    /// and its answer, as turns of one conversation, not one prompt retelling it.
    /// </summary>
    [Theory(Timeout = 150_000)]
    [InlineData(RealStackFixture.ClaudeModel, RealStackFixture.ClaudeModel)]
    [InlineData(null, "claude-opus-5-5")]
    [InlineData(RealStackFixture.CodexModel, RealStackFixture.CodexModel)]
    public async Task Claude_code_continues_a_conversation_through_us(string? anthropicModel, string expectedModel)
    {
        stack.ResetMocks();
        var before = Upstream.Count(stack, expectedModel);
        var (first, second) = ($"First, remember {Guid.NewGuid():N}.", $"Second, recall it {Guid.NewGuid():N}.");
        using var work = new WorkDir();

        var one = await RunOuterClaudeAsync(anthropicModel, first, work.Path, []);
        AssertSucceeded(one);
        var two = await RunOuterClaudeAsync(anthropicModel, second, work.Path, ["--continue"]);

        AssertSucceeded(two);
        Assert.Equal(RealStackFixture.Text, two.Stdout.TrimEnd('\n'));
        Assert.Equal(before + 2, Upstream.Count(stack, expectedModel));
        var turns = RawTurns(expectedModel).Where(t => t.Role is "user" or "assistant").ToList();
        var firstAt = turns.FindIndex(t => t.Role == "user" && t.Text.Contains(first, StringComparison.Ordinal));
        var answerAt = turns.FindIndex(t => t.Role == "assistant" && t.Text.Contains(RealStackFixture.Text, StringComparison.Ordinal));
        var secondAt = turns.FindIndex(t => t.Role == "user" && t.Text.Contains(second, StringComparison.Ordinal));
        Assert.True(firstAt >= 0 && firstAt < answerAt && answerAt < secondAt,
            $"the model's second request is not [.. user(first), assistant(answer), user(second)]:\n{string.Join("\n", turns.Select(t => $"{t.Role}: {(t.Text.Length > 300 ? t.Text[..150] + " ... " + t.Text[^150..] : t.Text)}"))}");
    }

    /// <summary>x-api-key carries our keys: a key with the messages scope is let in, a wrong one is refused before any model runs.</summary>
    [Fact(Timeout = 150_000)]
    public async Task Claude_code_sends_our_key_in_x_api_key()
    {
        stack.ResetMocks();
        await using var server = await stack.StartServerAsync(extraConfig: """{"allowLocalWithoutAuth": false}""");
        var master = server.App.Services.GetRequiredService<ServerSettings>().Config.MasterKey!;
        using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/api-keys")
        {
            Content = new StringContent("""{"name": "claude code", "scopes": ["messages"]}""", Encoding.UTF8, "application/json"),
        };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", master);
        using var created = await server.Client.SendAsync(create);
        var createdBody = await created.Content.ReadAsStringAsync();
        Assert.True(created.IsSuccessStatusCode, createdBody);
        var key = (string)JsonNode.Parse(createdBody)!["key"]!;
        var before = Upstream.Count(stack, RealStackFixture.ClaudeModel);
        using var work = new WorkDir();

        var ok = await RunOuterClaudeAsync(RealStackFixture.ClaudeModel, "Hello with a key.", work.Path, [], server, apiKey: key);
        var refused = await RunOuterClaudeAsync(RealStackFixture.ClaudeModel, "Hello with a wrong key.", work.Path, [], server, apiKey: key[..^4] + "zzzz");

        AssertSucceeded(ok);
        Assert.Equal(RealStackFixture.Text, ok.Stdout.TrimEnd('\n'));
        Assert.NotEqual(0, refused.ExitCode);
        // Claude Code's words for a 401 (it prints API errors on stdout).
        Assert.Contains("Failed to authenticate", refused.Stdout + refused.Stderr);
        Assert.Equal(before + 1, Upstream.Count(stack, RealStackFixture.ClaudeModel));
    }

    private sealed record OuterRun(int ExitCode, string Stdout, string Stderr);

    /// <summary>
    /// Runs `claude -p PROMPT` in <paramref name="workDir"/> against our server with a fresh HOME, no
    /// retries, no non-streaming fallback, and nothing leaving loopback: any request for elsewhere goes
    /// to a proxy on a closed loopback port. Ends its whole tree if it runs over <see cref="RunLimit"/>.
    /// </summary>
    private async Task<OuterRun> RunOuterClaudeAsync(string? model, string prompt, string workDir, IReadOnlyList<string> extraArgs,
        RealStackServer? server = null, string apiKey = "placeholder-key")
    {
        server ??= stack.Server;
        var home = Path.Combine(workDir, ".outer-home");
        Directory.CreateDirectory(home);
        var info = new ProcessStartInfo(RealClis.Claude)
        {
            WorkingDirectory = workDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var (name, value) in stack.ClaudeUpstream.ClaudeEnvironment(home, maxRetries: 0, apiKey: apiKey))
        {
            info.Environment[name] = value;
        }
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("ANTHROPIC_", StringComparison.Ordinal) || k.StartsWith("CLAUDE_CODE_ENTRYPOINT", StringComparison.Ordinal) || k == "CLAUDECODE").ToList())
        {
            // Whatever the test run inherited (a developer's own Claude Code session, say) must not steer this one.
            if (name is not ("ANTHROPIC_API_KEY" or "ANTHROPIC_BASE_URL"))
            {
                info.Environment.Remove(name);
            }
        }
        info.Environment["ANTHROPIC_BASE_URL"] = server.Client.BaseAddress!.ToString().TrimEnd('/');
        if (model is not null)
        {
            info.Environment["ANTHROPIC_MODEL"] = model;
        }
        info.Environment["CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK"] = "1";
        info.Environment["HTTPS_PROXY"] = "http://127.0.0.1:9";
        info.Environment["HTTP_PROXY"] = "http://127.0.0.1:9";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        info.ArgumentList.Add("-p");
        info.ArgumentList.Add(prompt);
        foreach (var arg in extraArgs)
        {
            info.ArgumentList.Add(arg);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(RunLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"the outer claude ran over {RunLimit.TotalSeconds} s\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }
        var run = new OuterRun(process.ExitCode, await stdout, await stderr);
        output.WriteLine($"outer claude ({model ?? "default model"}) exited {run.ExitCode} after {clock.ElapsedMilliseconds} ms\nstdout:\n{run.Stdout}\nstderr:\n{run.Stderr}");
        return run;
    }

    private static void AssertSucceeded(OuterRun run) =>
        Assert.True(run.ExitCode == 0, $"the outer claude exited {run.ExitCode}\nstdout:\n{run.Stdout}\nstderr:\n{run.Stderr}");

    /// <summary>
    /// For each inner model request since number <paramref name="from"/>: the tool names it declared,
    /// and the text of every tool result in it (Claude's tool_result blocks, codex's function_call_output items).
    /// </summary>
    private (List<List<string>> Declared, List<string> Results) ToolStepsSentUpstream(string model, int from)
    {
        var requests = Upstream.RequestsSince(stack, model, from);
        var declared = requests.Select(r => (r["tools"] as JsonArray ?? []).Select(t => (string?)t?["name"]).OfType<string>().ToList()).ToList();
        var results = requests.SelectMany(r => model == RealStackFixture.CodexModel
                ? (r["input"] as JsonArray ?? []).Where(i => (string?)i?["type"] == "function_call_output").Select(i => i!["output"])
                : (r["messages"] as JsonArray ?? []).SelectMany(m => m?["content"] as JsonArray ?? []).Where(b => (string?)b?["type"] == "tool_result").Select(b => b!["content"]))
            .Select(o => string.Concat(JsonStrings.In(o)))
            .ToList();
        return (declared, results);
    }

    /// <summary>
    /// The (role, text) turns of the newest inner model request, with every text part kept: the server
    /// may join Claude Code's &lt;system-reminder&gt; blocks and the user's words into one part, which
    /// <see cref="Upstream.Turns"/> would drop whole.
    /// </summary>
    private List<(string Role, string Text)> RawTurns(string model)
    {
        var items = model == RealStackFixture.CodexModel
            ? stack.CodexUpstream.Requests[^1]["input"]!.AsArray().Where(i => i?["role"] is not null && (string?)i["type"] is null or "message")
            : stack.ClaudeUpstream.MessageRequests[^1].Json["messages"]!.AsArray();
        return items.Select(i => ((string)i!["role"]!, i["content"] is JsonArray parts
                ? string.Concat(parts.Where(p => p?["text"] is JsonValue).Select(p => (string)p!["text"]!))
                : string.Concat(JsonStrings.In(i["content"]))))
            .ToList();
    }

    private sealed record UsageLine(string Endpoint, string? Model, string? Provider, int Status);

    private long LastUsageRowId()
    {
        using var connection = stack.Server.App.Services.GetRequiredService<Database>().Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(id), 0) FROM usage_logs";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>The usage rows written after row <paramref name="after"/>, once there are <paramref name="expected"/> (they are written just after each response ends).</summary>
    private async Task<List<UsageLine>> UsageRowsAfterAsync(long after, int expected)
    {
        var rows = new List<UsageLine>();
        for (var i = 0; i < 100 && rows.Count < expected; i++)
        {
            if (i > 0)
            {
                await Task.Delay(20);
            }
            rows.Clear();
            using var connection = stack.Server.App.Services.GetRequiredService<Database>().Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT endpoint, model, provider, status FROM usage_logs WHERE id > $after ORDER BY id";
            command.Parameters.AddWithValue("$after", after);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                rows.Add(new UsageLine(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3)));
            }
        }
        output.WriteLine("usage rows: " + string.Join("; ", rows));
        return rows;
    }

    /// <summary>The outer Claude Code's working folder (it may Read in it) with its HOME inside.</summary>
    private sealed class WorkDir : IDisposable
    {
        public string Path { get; } = TempDir.Create("outer-claude");

        public void Dispose() => TempDir.Delete(Path);
    }
}
