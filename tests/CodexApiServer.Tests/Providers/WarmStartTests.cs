using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Storage;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>warmOnStart with CLIs that are not there: nothing is started, and the server answers as usual.</summary>
public sealed class WarmStartTests
{
    [Fact(Timeout = 30_000)]
    public async Task A_cli_that_is_not_installed_is_not_started_and_the_server_still_answers()
    {
        await using var server = await TestServer.StartAsync(
            """{"warmOnStart": true, "codexPath": "/nonexistent/codex", "claudePath": "/nonexistent/claude"}""",
            // The usage log names a Claude model, so only the missing CLI keeps its spare from starting.
            beforeStart: app => app.Services.GetRequiredService<UsageLog>().Write(new UsageRow(
                DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "req_1", null, "/v1/chat/completions", "claude-sonnet-4-5", "claude", 200, 1, 1, 0, 0, 10)));
        Assert.Equal("claude-sonnet-4-5", server.App.Services.GetRequiredService<UsageLog>().MostUsedModel("claude", 0));

        await server.App.Services.GetRequiredService<WarmStart>().Completion.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(server.App.Services.GetRequiredService<ClaudeProvider>().StartedPids);
        Assert.Null(server.App.Services.GetRequiredService<CodexProvider>().AppServerPid);
        Assert.Empty(await Processes.ListedAsync(server.Client, _ => true));
    }
}
