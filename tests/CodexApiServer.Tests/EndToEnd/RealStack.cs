using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.EndToEnd;

// The end-to-end classes share CPU-heavy CLIs and time limits: run them one after the other.
[CollectionDefinition(Name)]
public sealed class EndToEndGroup
{
    public const string Name = "EndToEnd";
}

/// <summary>
/// The whole stack: our server in this process with the REAL codex and claude CLIs as its
/// providers, each pointed at a mock model server on loopback. One per test class.
/// </summary>
public sealed class RealStackFixture : IAsyncLifetime
{
    public const string CodexModel = "gpt-5.2-codex";
    public const string ClaudeModel = "claude-sonnet-4-5";

    /// <summary>What both mocks answer by default: several deltas, multi-byte text split across them.</summary>
    public static readonly string[] Chunks = ["こんにちは", "、世界", " 🌏", "🎉👍🏽", "です。"];

    public static string Text => string.Concat(Chunks);

    public MockResponsesUpstream CodexUpstream { get; private set; } = null!;
    public MockAnthropicUpstream ClaudeUpstream { get; private set; } = null!;
    public IReadOnlyDictionary<string, string?> CodexEnvironment { get; private set; } = null!;
    public IReadOnlyDictionary<string, string?> ClaudeEnvironment { get; private set; } = null!;
    public RealStackServer Server { get; private set; } = null!;
    private string _claudeHome = "";

    /// <summary>The token counts each mock reports, as our API must pass them on (Claude's prompt tokens include cache reads).</summary>
    public static ExpectedUsage UsageOf(string model) => model == CodexModel ? new(21, 6, 4, 2) : new(21 + 4, 9, 4, 0);

    public sealed record ExpectedUsage(long Prompt, long Completion, long Cached, long Reasoning);

    public async Task InitializeAsync()
    {
        CodexUpstream = await MockResponsesUpstream.StartAsync();
        ClaudeUpstream = await MockAnthropicUpstream.StartAsync();
        // One retry only: codex's defaults take ~27 s to give up on a 500.
        CodexEnvironment = CodexUpstream.CodexEnvironment(maxRetries: 1);
        _claudeHome = TempDir.Create("claude-home");
        ClaudeEnvironment = ClaudeUpstream.ClaudeEnvironment(_claudeHome, maxRetries: 1);
        ResetMocks();
        Server = await StartServerAsync();
    }

    public void ResetMocks()
    {
        CodexUpstream.Chunks = Chunks;
        CodexUpstream.Reply = null;
        CodexUpstream.DeltaDelay = TimeSpan.Zero;
        CodexUpstream.FailWithStatus = null;
        CodexUpstream.FailBody = null;
        CodexUpstream.ResponseHeaders = null;
        CodexUpstream.ResetClientAborted();
        ClaudeUpstream.Reply = _ => Claude(Chunks);
        ClaudeUpstream.ResponseHeaders = null;
    }

    public static MockReply Claude(IReadOnlyList<string> chunks) => new(chunks, InputTokens: 21, OutputTokens: 9, CacheReadTokens: 4);

    /// <summary>A server whose models route to the real CLIs; <paramref name="dataDir"/> reuses an earlier server's data (a restart).</summary>
    /// <param name="claudeEnvironment">Instead of <see cref="ClaudeEnvironment"/>, e.g. a subscription login.</param>
    public Task<RealStackServer> StartServerAsync(string? dataDir = null, string? extraConfig = null, int maxSpares = 2, IReadOnlyDictionary<string, string?>? claudeEnvironment = null)
    {
        var config = extraConfig is null ? new JsonObject() : JsonNode.Parse(extraConfig)!.AsObject();
        config["maxSparesPerModel"] ??= maxSpares;
        return RealStackServer.StartAsync(dataDir, config.ToJsonString(),
            new CodexProviderOptions { Environment = CodexEnvironment },
            new ClaudeProviderOptions { Environment = claudeEnvironment ?? ClaudeEnvironment });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await CodexUpstream.DisposeAsync();
        await ClaudeUpstream.DisposeAsync();
        TempDir.Delete(CodexEnvironment["CODEX_HOME"]!);
        TempDir.Delete(_claudeHome);
    }
}

/// <summary>One in-process server on 127.0.0.1:0 over the real CLIs; stopping it keeps its data folder for a restart.</summary>
public sealed class RealStackServer : IAsyncDisposable
{
    private bool _stopped;

    private RealStackServer(WebApplication app, string dataDir)
    {
        App = app;
        DataDir = dataDir;
        Client = new HttpClient { BaseAddress = new Uri(app.Address()), Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    public string DataDir { get; }
    public HttpClient Client { get; }
    public CodexProvider Codex => App.Services.GetRequiredService<CodexProvider>();
    public ClaudeProvider Claude => App.Services.GetRequiredService<ClaudeProvider>();

    /// <summary>The CLI process that holds a session: codex's one app-server, or claude's process for it.</summary>
    public int? ProcessOf(string model, string session) =>
        model == RealStackFixture.CodexModel ? Codex.AppServerPid : Claude.PidOf(session);

    public static async Task<RealStackServer> StartAsync(string? dataDir, string? extraConfig, CodexProviderOptions codex, ClaudeProviderOptions claude)
    {
        dataDir ??= TempDir.Create("e2e-server");
        // Warm at start is tested on its own: elsewhere the first request starts what it needs, as before.
        var config = new JsonObject { ["codexPath"] = RealClis.Codex, ["claudePath"] = RealClis.Claude, ["warmOnStart"] = false };
        if (extraConfig is not null)
        {
            foreach (var (key, value) in JsonNode.Parse(extraConfig)!.AsObject())
            {
                config[key] = value?.DeepClone();
            }
        }
        await File.WriteAllTextAsync(Path.Combine(dataDir, "config.json"), config.ToJsonString());
        var settings = ServerSettings.Load(CommandLine.Parse(["--port", "0", "--data-dir", dataDir]), _ => null);
        var app = ServerApp.Build(settings, null, services =>
        {
            services.AddSingleton(codex);
            services.AddSingleton(claude);
        });
        await app.StartListeningAsync(settings);
        return new RealStackServer(app, dataDir);
    }

    public async Task<HttpResponseMessage> PostAsync(string path, JsonNode body, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        // As the SDKs do, even when streaming.
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    public async Task<(HttpResponseMessage Response, JsonNode Body)> PostJsonAsync(string path, JsonNode body)
    {
        var response = await PostAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response, JsonNode.Parse(text)!);
    }

    /// <summary>The usage row the request wrote (it is written just after the response ends, so wait a little for it).</summary>
    public async Task<UsageRow> UsageRowAsync(HttpResponseMessage response)
    {
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var database = App.Services.GetRequiredService<Database>();
        for (var i = 0; i < 100; i++)
        {
            var rows = new List<UsageRow>();
            using (var connection = database.Open())
            using (var command = connection.CreateCommand())
            {
                command.CommandText = """
                    SELECT created_at, request_id, api_key_id, endpoint, model, provider, status,
                           input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms
                    FROM usage_logs WHERE request_id = $id
                    """;
                command.Parameters.AddWithValue("$id", requestId);
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    rows.Add(new UsageRow(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3),
                        reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt32(6),
                        reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.GetInt64(10), reader.GetInt64(11)));
                }
            }
            if (rows.Count > 0)
            {
                return Assert.Single(rows);
            }
            await Task.Delay(20);
        }
        throw new Xunit.Sdk.XunitException($"no usage row for {requestId}");
    }

    /// <summary>The row has exactly the mock's token counts.</summary>
    public async Task AssertUsageRowAsync(HttpResponseMessage response, string model, string endpoint, int status = 200)
    {
        var row = await UsageRowAsync(response);
        var expected = RealStackFixture.UsageOf(model);
        Assert.Equal(endpoint, row.Endpoint);
        Assert.Equal(model, row.Model);
        Assert.Equal(model == RealStackFixture.CodexModel ? "codex" : "claude", row.Provider);
        Assert.Equal(status, row.Status);
        Assert.Equal(new RealStackFixture.ExpectedUsage(row.InputTokens, row.OutputTokens, row.CachedTokens, row.ReasoningTokens), expected);
    }

    /// <summary>Every process this server's providers started, with their descendants, as they are now.</summary>
    public IReadOnlyList<int> ProviderProcessTree()
    {
        var roots = new List<int>(Claude.StartedPids);
        if (Codex.AppServerPid is { } pid)
        {
            roots.Add(pid);
        }
        return roots.Concat(roots.SelectMany(Processes.Descendants)).Distinct().ToArray();
    }

    /// <summary>Stops the server (its children are ended) and keeps the data folder.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        TempDir.Delete(DataDir);
    }
}

public static class Processes
{
    public static IEnumerable<int> Descendants(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.Exists($"/proc/{pid}/task") ? Directory.GetDirectories($"/proc/{pid}/task") : [])
            {
                var file = Path.Combine(task, "children");
                if (File.Exists(file))
                {
                    children.AddRange(File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
                }
            }
        }
        catch (IOException)
        {
            // It ended while we looked.
        }
        return children.Concat(children.SelectMany(Descendants)).ToArray();
    }

    /// <summary>The command line of a live process, or null.</summary>
    public static string? CommandLine(int pid)
    {
        try
        {
            // A process in the middle of an exec (a script's `#!/usr/bin/env node` execs twice) reads as empty for a moment.
            for (var i = 0; ClaudeTestHarness.IsAlive(pid); i++)
            {
                var line = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                if (line.Length > 0 || i == 50)
                {
                    return line;
                }
                Thread.Sleep(10);
            }
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The CLI processes a server's /health lists (PID, role), once they satisfy <paramref name="expected"/>.</summary>
    /// <summary>Asserts that the claude process started last (the new spare) has loaded: it uses no CPU while it waits on its stdin.</summary>
    public static async Task AssertSpareLoadedAsync(IReadOnlyList<int> startedPids) =>
        Assert.True(await WaitIdleAsync(startedPids[^1], TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(15)), "the spare is still loading");

    /// <summary>
    /// Waits until the process and its descendants use no CPU for <paramref name="quiet"/>: a CLI
    /// that has loaded and waits on its stdin. False if it is still busy after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<bool> WaitIdleAsync(int pid, TimeSpan quiet, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var last = CpuTicks(pid);
        var since = clock.Elapsed;
        while (clock.Elapsed < timeout)
        {
            await Task.Delay(50);
            var now = CpuTicks(pid);
            if (now != last)
            {
                (last, since) = (now, clock.Elapsed);
            }
            else if (clock.Elapsed - since >= quiet)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>User and system CPU ticks of the process and its descendants (utime, stime in /proc/PID/stat).</summary>
    private static long CpuTicks(int pid) => new[] { pid }.Concat(Descendants(pid)).Sum(p =>
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{p}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11]) + long.Parse(fields[12]);
        }
        catch (IOException)
        {
            return 0;
        }
    });

    public static async Task<List<(int Pid, string Role)>> ListedAsync(HttpClient client, Func<List<(int Pid, string Role)>, bool> expected)
    {
        List<(int Pid, string Role)> list = [];
        for (var i = 0; i < 200; i++)
        {
            var health = JsonNode.Parse(await client.GetStringAsync("/health"))!;
            list = health["memory"]!["processes"]!.AsArray().Select(p => ((int)p!["pid"]!, (string)p["role"]!)).ToList();
            if (expected(list))
            {
                return list;
            }
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"/health lists {string.Join(", ", list)}");
    }

    public static async Task AssertAllEndAsync(IEnumerable<int> pids, TimeSpan within)
    {
        foreach (var pid in pids)
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), within), $"PID {pid} ({CommandLine(pid)}) still alive");
        }
    }
}

public static class Wire
{
    public static JsonObject Chat(string model, bool stream, params (string Role, string Content)[] messages)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
        };
        if (stream)
        {
            body["stream"] = true;
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }
        return body;
    }

    public static JsonObject Response(string model, string input, bool stream, string? previous = null)
    {
        var body = new JsonObject { ["model"] = model, ["input"] = input };
        if (stream)
        {
            body["stream"] = true;
        }
        if (previous is not null)
        {
            body["previous_response_id"] = previous;
        }
        return body;
    }

    /// <summary>The data payloads of an SSE stream, after a strict parse.</summary>
    public static List<string> DataOf(string raw) =>
        Api.ApiServer.ParseSse(raw).Where(f => !f.IsComment).Select(f => f.Data!).ToList();
}

/// <summary>What the mock model servers were sent, as (role, text) turns.</summary>
public static class Upstream
{
    public static int Count(RealStackFixture stack, string model) =>
        model == RealStackFixture.CodexModel ? stack.CodexUpstream.Requests.Count : stack.ClaudeUpstream.MessageRequests.Length;

    /// <summary>The conversation in the model request number <paramref name="index"/> (negative: from the end).</summary>
    public static List<(string Role, string Text)> Turns(RealStackFixture stack, string model, int index = -1)
    {
        if (model == RealStackFixture.CodexModel)
        {
            var requests = stack.CodexUpstream.Requests;
            var request = requests[index < 0 ? requests.Count + index : index];
            return request["input"]!.AsArray()
                .Where(i => i!["role"] is not null && (string?)i["type"] is null or "message")
                .Select(i => ((string)i!["role"]!, TextOf(i["content"])))
                .ToList();
        }
        var messages = stack.ClaudeUpstream.MessageRequests;
        var json = messages[index < 0 ? messages.Length + index : index].Json;
        return json["messages"]!.AsArray().Select(m => ((string)m!["role"]!, TextOf(m["content"]))).ToList();
    }

    /// <summary>The turns a user wrote (codex also sends its environment context as a user item; it starts with '&lt;').</summary>
    public static List<string> UserTexts(RealStackFixture stack, string model, int index = -1) =>
        Turns(stack, model, index).Where(t => t.Role == "user" && t.Text.Length > 0 && !t.Text.StartsWith('<')).Select(t => t.Text).ToList();

    /// <summary>The model requests (their JSON bodies) made since request number <paramref name="from"/>.</summary>
    public static List<JsonNode> RequestsSince(RealStackFixture stack, string model, int from) =>
        model == RealStackFixture.CodexModel
            ? stack.CodexUpstream.Requests.Skip(from).ToList()
            : stack.ClaudeUpstream.MessageRequests.Skip(from).Select(r => r.Json).ToList();

    /// <summary>
    /// Every tool run a client script printed ("TOOL {json}" lines) reached the mock upstream as a tool
    /// result since request number <paramref name="from"/>, in a request that declared all of <paramref name="tools"/>.
    /// </summary>
    public static void AssertToolRunsReached(RealStackFixture stack, string model, int from, string scriptOutput, IReadOnlyList<string> tools)
    {
        var runs = scriptOutput.Split('\n')
            .Where(l => l.StartsWith("TOOL ", StringComparison.Ordinal))
            .Select(l => JsonNode.Parse(l["TOOL ".Length..])!)
            .Select(n => ((string)n["name"]!, n["args"]!.ToJsonString(), (string)n["output"]!))
            .ToList();
        Assert.NotEmpty(runs);
        var results = ToolResultsSince(stack, model, from);
        foreach (var (name, arguments, toolOutput) in runs)
        {
            Assert.True(results.Any(r => r.Output.Contains(toolOutput, StringComparison.Ordinal)),
                $"the mock upstream never got the output \"{toolOutput}\" of {name} {arguments}; it got:\n{string.Join("\n", results.Select(r => r.Output))}");
        }
        foreach (var (declared, _) in results)
        {
            Assert.All(tools, tool => Assert.Contains(declared, d => d.EndsWith(tool, StringComparison.Ordinal)));
        }
    }

    /// <summary>
    /// Each tool result in the model requests made since request number <paramref name="from"/>, with
    /// the tool names that request declared: codex's function_call_output items, Claude's tool_result blocks.
    /// </summary>
    public static List<(List<string> Declared, string Output)> ToolResultsSince(RealStackFixture stack, string model, int from)
    {
        var results = new List<(List<string>, string)>();
        foreach (var request in RequestsSince(stack, model, from))
        {
            var declared = NamesIn(request["tools"]).ToList();
            var outputs = model == RealStackFixture.CodexModel
                ? (request["input"] as JsonArray ?? [])
                    .Where(i => ((string?)i?["type"])?.EndsWith("_call_output", StringComparison.Ordinal) == true)
                    .Select(i => i!["output"])
                : (request["messages"] as JsonArray ?? [])
                    .SelectMany(m => m?["content"] as JsonArray ?? [])
                    .Where(b => (string?)b?["type"] == "tool_result")
                    .Select(b => b!["content"]);
            results.AddRange(outputs.Select(o => (declared, string.Concat(JsonStrings.In(o)))));
        }
        return results;
    }

    /// <summary>The "name" of every object in a tools list, however a CLI nests them.</summary>
    private static IEnumerable<string> NamesIn(JsonNode? node) => node switch
    {
        JsonArray array => array.SelectMany(NamesIn),
        JsonObject obj => obj.SelectMany(p => p.Key == "name" && p.Value is JsonValue v && v.TryGetValue<string>(out var name) ? [name] : NamesIn(p.Value)),
        _ => [],
    };


    /// <summary>The newest user text of one codex request.</summary>
    public static string UserTextOf(JsonNode codexRequest) =>
        TextOf(codexRequest["input"]!.AsArray().Last(i => (string?)i!["role"] == "user")!["content"]);

    private static string TextOf(JsonNode? content) => content switch
    {
        null => "",
        JsonValue v => v.GetValue<string>(),
        // Claude Code adds its own <system-reminder> blocks to user messages.
        JsonArray parts => string.Concat(parts.Where(p => p!["text"] is not null).Select(p => (string)p!["text"]!).Where(t => !t.StartsWith("<system-reminder>", StringComparison.Ordinal))),
        _ => content.ToJsonString(),
    };
}
