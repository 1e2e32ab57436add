using CodexApiServer.Providers;
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
        await foreach (var ev in provider.RunAsync(ClaudeTestHarness.Request("hi"), CancellationToken.None))
        {
            events.Add(ev);
        }
        var completed = Assert.IsType<TurnCompleted>(events[^1]);
        Assert.True(Directory.Exists(Path.Combine(server.DataDir, "scratch", $"claude-{completed.SessionId}")));
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => claude.SpareCount == 1, TimeSpan.FromSeconds(5)));
        var pids = claude.StartedPids;

        await server.DisposeAsync();

        foreach (var pid in pids)
        {
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => !ClaudeTestHarness.IsAlive(pid), TimeSpan.FromSeconds(3)), $"PID {pid} survived shutdown");
        }
    }
}
