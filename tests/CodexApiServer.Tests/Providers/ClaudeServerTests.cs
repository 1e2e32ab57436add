using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Tests.Api;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Providers;

/// <summary>The provider as the server wires it: registered, and every claude child ended on shutdown.</summary>
public sealed class ClaudeServerTests
{
    [Fact(Timeout = 60_000)]
    public async Task Server_registers_the_provider_and_shutdown_ends_its_processes()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-claude.mjs");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var server = await TestServer.StartAsync($$"""{"claudePath": "{{script}}"}""");
        var provider = server.App.Services.GetServices<ITurnProvider>().Single(p => p.Kind == ProviderKind.Claude);
        var claude = Assert.IsType<ClaudeProvider>(provider);
        Assert.Same(claude, server.App.Services.GetRequiredService<ClaudeProvider>());

        var events = new List<TurnEvent>();
        // Twice: a key seen once keeps no spare, and shutdown must end the spare too.
        await foreach (var _ in provider.RunAsync(ClaudeTestHarness.Request("hi"), CancellationToken.None))
        {
        }
        await foreach (var ev in provider.RunAsync(ClaudeTestHarness.Request("hi"), CancellationToken.None))
        {
            events.Add(ev);
        }
        var completed = Assert.IsType<TurnEnded>(events[^1]);
        Assert.Equal(TurnEndReason.Stop, completed.Reason);
        Assert.True(Directory.Exists(Path.Combine(server.DataDir, "scratch", $"claude-{completed.SessionId}")));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => claude.SpareCount == 2, TimeSpan.FromSeconds(5)));
        var pids = claude.StartedPids;

        await server.DisposeAsync();

        foreach (var pid in pids)
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(3)), $"PID {pid} survived shutdown");
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_new_conversation_that_does_not_fit_in_memory_waits_then_gets_429_or_the_room_a_finished_turn_leaves()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-claude.mjs");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Room for one fake claude (a node process): a second one cannot start while the first is busy.
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync($$"""{"claudePath": "{{script}}", "memoryBudgetMb": 64, "queueTimeoutSeconds": 2}""", logging: logs);
        const string Model = "claude-sonnet-4-5";
        var busy = await server.PostAsync("/v1/chat/completions", $$"""{"model":"{{Model}}","stream":true,"messages":[{"role":"user","content":"#mode=hang"}]}""");
        Assert.Equal(HttpStatusCode.OK, busy.StatusCode);
        var stream = new StreamReader(await busy.Content.ReadAsStreamAsync());
        while (await stream.ReadLineAsync() is { } line && !line.Contains("Hello", StringComparison.Ordinal))
        {
        }
        var health = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["memory"]!;
        var session = Assert.Single(health["processes"]!.AsArray())!;
        Assert.Equal("session", (string?)session["role"]);
        Assert.Equal(64, (long)health["budget_mb"]!);

        var clock = Stopwatch.StartNew();
        var (refused, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"another conversation"}]}""");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.8), TimeSpan.FromSeconds(10));
        ErrorAssert.IsOpenAIError(body, "rate_limit_exceeded");
        var message = (string)body!["error"]!["message"]!;
        Assert.Contains("memory budget (64 MB, memoryBudgetMb)", message);
        Assert.Contains("within 2 s (queueTimeoutSeconds)", message);
        Assert.True(refused.Headers.Contains("retry-after"));

        // Waiting, then the busy turn ends (its client leaves): the waiting one gets its room.
        var waiting = server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"a third conversation"}]}""");
        // The memory budget says so once per request that waits: this one's is the second.
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => logs.Lines.Count(l => l.Contains("process waits for memory", StringComparison.Ordinal)) == 2, TimeSpan.FromSeconds(10)), "the third conversation never waited");
        Assert.False(waiting.IsCompleted);
        busy.Dispose();
        var (served, answer) = await waiting;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("Hello, wörld 日本語 😀", (string?)answer!["choices"]![0]!["message"]!["content"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task Scratch_folders_of_conversations_are_the_owners_only()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-claude.mjs");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var server = await TestServer.StartAsync($$"""{"claudePath": "{{script}}", "codexPath": "{{CodexHarness.FakeCodexPath()}}"}""");
        // A long system prompt goes to claude through a file in scratch/prompts.
        var prompt = new string('p', 20_000);
        foreach (var model in new[] { "claude-sonnet-4-5", "gpt-5.2-codex" })
        {
            var (response, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
                $$"""{"model":"{{model}}","messages":[{"role":"system","content":"{{prompt}}"},{"role":"user","content":"hi"}]}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var root = Path.Combine(server.DataDir, "scratch");
        var dirs = Directory.GetDirectories(root);
        Assert.Contains(dirs, d => Path.GetFileName(d).StartsWith("claude-", StringComparison.Ordinal));
        Assert.Contains(dirs, d => Path.GetFileName(d).StartsWith("codex-", StringComparison.Ordinal));
        Assert.Contains(dirs, d => Path.GetFileName(d) == "prompts");
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.All(dirs.Append(root), d => Assert.Equal(Private, File.GetUnixFileMode(d)));
    }
}
