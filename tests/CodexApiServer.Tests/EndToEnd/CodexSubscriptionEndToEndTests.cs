using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// What a subscription backend does that an accepting mock does not (issue 14), through HTTP with the real codex:
/// each test has its own mock and server, since codex's retry settings and the fallback are per process.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class CodexSubscriptionEndToEndTests(ITestOutputHelper output)
{
    private static Task<RealStackServer> StartAsync(MockResponsesUpstream mock) =>
        RealStackServer.StartAsync(null, null, new CodexProviderOptions { Environment = mock.CodexEnvironment() }, new ClaudeProviderOptions { WarmSpares = 0 });

    [Fact(Timeout = 60_000)]
    public async Task Upstream_5xx_on_every_try_arrives_within_10_seconds_with_no_retry_and_the_status()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        // codex's own defaults (no retry settings in its config): ~25 s of retries on a 500.
        await using var server = await StartAsync(mock);
        mock.FailWithStatus = 500;

        var clock = Stopwatch.StartNew();
        var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
        output.WriteLine($"HTTP {(int)response.StatusCode} after {clock.ElapsedMilliseconds} ms, {mock.Requests.Count} upstream requests: {body.ToJsonString()}");

        Assert.Equal(502, (int)response.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.True(mock.Requests.Count >= 2, "codex did not retry");
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        var error = ErrorAssert.IsOpenAIError(body, "server_error");
        Assert.Contains("upstream answered 5xx", (string)error["message"]!, StringComparison.Ordinal);
    }
}
