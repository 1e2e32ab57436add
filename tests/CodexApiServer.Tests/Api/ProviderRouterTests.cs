using System.Net;
using System.Runtime.CompilerServices;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

public sealed class ProviderRouterTests
{
    [Fact]
    public async Task Models_route_to_their_provider()
    {
        var codex = new FakeProvider(ProviderKind.Codex);
        var claude = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(codex, more: [claude]);
        foreach (var model in new[] { "sonnet", "claude-opus-4-5", "claude-some-future-model", "gpt-5.2-codex" })
        {
            var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", $$"""{"model":"{{model}}","messages":[{"role":"user","content":"Hi"}]}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(model, body!["model"]!.GetValue<string>());
        }
        Assert.Equal(["sonnet", "claude-opus-4-5", "claude-some-future-model"], claude.Requests.Select(r => r.Model.Id));
        Assert.Equal("claude-opus-4-5", claude.Requests.ElementAt(1).Model.CliModel);
        Assert.Equal(["gpt-5.2-codex"], codex.Requests.Select(r => r.Model.Id));
    }

    [Fact]
    public async Task At_most_max_concurrent_turns_run_at_once_and_the_rest_wait_their_turn()
    {
        var fake = new FakeProvider();
        fake.Script = (r, ct) => Hold(ct);
        await using var server = await ApiServer.StartAsync(fake, """{"maxConcurrentTurns":2,"queueTimeoutSeconds":30}""");
        var requests = Enumerable.Range(0, 5).Select(i =>
            server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", $$"""{"model":"gpt-5.2-codex","messages":[{"role":"user","content":"{{i}}"}]}""")).ToList();
        var results = await Task.WhenAll(requests);
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Response.StatusCode));
        Assert.Equal(5, fake.Requests.Count);
        Assert.Equal(2, fake.MaxRunning);
    }

    private static async IAsyncEnumerable<TurnEvent> Hold([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(300, ct);
        yield return new TextDelta("ok");
        yield return new TurnEnded(TurnEndReason.Stop, null);
    }
}
