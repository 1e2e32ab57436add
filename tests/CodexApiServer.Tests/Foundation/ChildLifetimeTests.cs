using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.Foundation;

/// <summary>The server as a process with many live real CLI children: however it ends, none of them stays.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class ChildLifetimeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int ClaudeSessions = 20;
    private readonly string _dir = TempDir.Create("child-lifetime");
    private readonly string _claudeHome = TempDir.Create("claude-home");
    private MockAnthropicUpstream _claude = null!;
    private MockResponsesUpstream _codex = null!;
    private IReadOnlyDictionary<string, string?> _codexEnv = null!;

    public async Task InitializeAsync()
    {
        _claude = await MockAnthropicUpstream.StartAsync();
        _codex = await MockResponsesUpstream.StartAsync();
        _codexEnv = _codex.CodexEnvironment(maxRetries: 1);
    }

    public async Task DisposeAsync()
    {
        await _claude.DisposeAsync();
        await _codex.DisposeAsync();
        TempDir.Delete(_codexEnv["CODEX_HOME"]!);
        TempDir.Delete(_claudeHome);
        TempDir.Delete(_dir);
    }

    [Fact(Timeout = 180_000)]
    public async Task SIGTERM_ends_20_idle_claude_sessions_and_codex_within_10_s()
    {
        using var server = await StartWithSessionsAsync();
        var children = Processes.Descendants(server.Pid).ToList();

        var clock = Stopwatch.StartNew();
        server.Signal(ServerProcess.SigTerm);
        var exit = await server.WaitExitAsync(TimeSpan.FromSeconds(20));
        var elapsed = clock.Elapsed;

        output.WriteLine($"SIGTERM with {children.Count} children: exited {exit} after {elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(0, exit);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"took {elapsed}");
        Assert.All(children, pid => Assert.False(ClaudeTestHarness.IsAlive(pid), $"{pid} ({Processes.CommandLine(pid)}) outlived the server"));
    }

    [Fact(Timeout = 180_000)]
    public async Task A_SIGKILLed_server_leaves_no_CLI_running()
    {
        using var server = await StartWithSessionsAsync();
        // One claude in the middle of a turn too: the model keeps it waiting.
        _claude.Reply = _ => new MockReply(["still "], HangAfter: 1);
        using var hanging = new HttpClient { BaseAddress = await server.WaitListeningAsync(), Timeout = Timeout.InfiniteTimeSpan };
        using var busy = await hanging.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(Wire.Chat(RealStackFixture.ClaudeModel, stream: true, ("user", "a long answer")).ToJsonString(), Encoding.UTF8, "application/json"),
        }, HttpCompletionOption.ResponseHeadersRead);
        using (var reader = new StreamReader(await busy.Content.ReadAsStreamAsync()))
        {
            while (await reader.ReadLineAsync() is { } line && !line.Contains("still", StringComparison.Ordinal))
            {
            }
        }
        var children = Processes.Descendants(server.Pid).ToList();
        output.WriteLine($"children: {string.Join(", ", children.Select(p => $"{p} {Processes.CommandLine(p)?.Split(' ')[0]}"))}");
        var watch = Stopwatch.StartNew();
        var timeline = Task.Run(async () =>
        {
            var gone = new Dictionary<int, long>();
            while (watch.Elapsed < TimeSpan.FromSeconds(4))
            {
                foreach (var p in children.Where(p => !gone.ContainsKey(p) && !ClaudeTestHarness.IsAlive(p)))
                {
                    gone[p] = watch.ElapsedMilliseconds;
                }
                await Task.Delay(20);
            }
            return gone;
        });

        server.Signal(ServerProcess.SigKill);
        await server.WaitExitAsync(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        var ended = await ClaudeTestHarness.WaitUntilAsync(() => children.All(p => !ClaudeTestHarness.IsAlive(p)), TimeSpan.FromSeconds(3));

        var alive = children.Where(ClaudeTestHarness.IsAlive).ToList();
        output.WriteLine("gone after ms: " + string.Join(", ", (await timeline).OrderBy(g => g.Value).Select(g => $"{g.Key}:{g.Value}")));
        output.WriteLine($"SIGKILL with {children.Count} children: {alive.Count} alive {clock.ElapsedMilliseconds} ms later");
        foreach (var pid in alive)
        {
            output.WriteLine($"alive: {pid}: {Read($"/proc/{pid}/stat")} | {Read($"/proc/{pid}/status").Replace('\n', ' ')}");
            Process.GetProcessById(pid).Kill();
        }
        Assert.True(ended, $"{alive.Count} of {children.Count} children outlived the SIGKILLed server by 3 s: {string.Join(", ", alive.Select(p => $"{p} {Processes.CommandLine(p)}"))}");
    }

    /// <summary>The server with <see cref="ClaudeSessions"/> idle claude sessions (and a spare) and a codex conversation.</summary>
    private async Task<ServerProcess> StartWithSessionsAsync()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), new JsonObject
        {
            ["codexPath"] = RealClis.Codex,
            ["claudePath"] = RealClis.Claude,
            ["maxConcurrentTurns"] = 8,
        }.ToJsonString());
        var env = new Dictionary<string, string?>(_claude.ClaudeEnvironment(_claudeHome));
        foreach (var (key, value) in _codexEnv)
        {
            env[key] = value;
        }
        var server = ServerProcess.Start(["--port", "0", "--data-dir", _dir], env);
        using var client = new HttpClient { BaseAddress = await server.WaitListeningAsync(), Timeout = TimeSpan.FromSeconds(120) };
        // Conversations that go on (one does first), so each keeps its process: none is rewound for another (README: Warm spares).
        using (var opening = await client.PostAsync("/v1/chat/completions", new StringContent(Wire.Chat(RealStackFixture.ClaudeModel, stream: false, ("user", "conversation")).ToJsonString(), Encoding.UTF8, "application/json")))
        {
            var answer = (string)JsonNode.Parse(await opening.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!["content"]!;
            using var goOn = await client.PostAsync("/v1/chat/completions", new StringContent(
                Wire.Chat(RealStackFixture.ClaudeModel, stream: false, ("user", "conversation"), ("assistant", answer), ("user", "and on")).ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, goOn.StatusCode);
        }
        var turns = Enumerable.Range(0, ClaudeSessions).Select(i => Chat(client, RealStackFixture.ClaudeModel, $"conversation {i}"))
            .Append(Chat(client, RealStackFixture.CodexModel, "a codex conversation"));
        Assert.All(await Task.WhenAll(turns), status => Assert.Equal(HttpStatusCode.OK, status));
        var health = JsonNode.Parse(await client.GetStringAsync("/health"))!["memory"]!["processes"]!.AsArray();
        output.WriteLine($"/health lists {health.Count} CLI processes");
        Assert.True(health.Count(p => (string?)p!["role"] == "session") >= ClaudeSessions, health.ToJsonString());
        return server;
    }

    private static string Read(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    private static async Task<HttpStatusCode> Chat(HttpClient client, string model, string text)
    {
        using var response = await client.PostAsync("/v1/chat/completions",
            new StringContent(Wire.Chat(model, stream: false, ("user", text)).ToJsonString(), Encoding.UTF8, "application/json"));
        return response.StatusCode;
    }
}
