using System.Text;
using CodexApiServer.Endpoints;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Api;

namespace CodexApiServer.Tests.Turns;

/// <summary>The driver on a scripted provider and a response body in memory.</summary>
public sealed class TurnDriverTests
{
    [Fact]
    public async Task The_endpoint_gets_the_end_before_the_streams_last_events_go_out_so_what_a_client_reads_last_is_already_stored()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var driver = server.App.Services.GetRequiredService<TurnDriver>();
        var route = server.App.Services.GetRequiredService<ProviderRouter>().Resolve("gpt-5.2-codex").Route!;
        var http = new DefaultHttpContext();
        var body = new MemoryStream();
        http.Response.Body = body;
        var encoder = new ChatCompletionEncoder("chatcmpl-x", 1, "gpt-5.2-codex", includeUsage: false);
        string? writtenAtEnd = null;

        var outcome = await driver.RunAsync(new TurnJob(route, new TurnRequest(route.Model, null, [TurnMessage.User("hi")]), null, Stream: true),
            encoder, http, CancellationToken.None, onEnded: _ => writtenAtEnd = Encoding.UTF8.GetString(body.ToArray()));

        Assert.True(outcome.Streamed);
        Assert.Equal(TurnEndReason.Stop, outcome.End.Reason);
        Assert.Contains("\"content\":\" world\"", writtenAtEnd, StringComparison.Ordinal);
        Assert.DoesNotContain("\"finish_reason\":\"stop\"", writtenAtEnd, StringComparison.Ordinal);
        Assert.DoesNotContain("[DONE]", writtenAtEnd, StringComparison.Ordinal);
        var all = Encoding.UTF8.GetString(body.ToArray());
        Assert.Contains("\"finish_reason\":\"stop\"", all, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", all, StringComparison.Ordinal);
        Assert.Equal((12, 3), (RequestInfo.Of(http).InputTokens, RequestInfo.Of(http).OutputTokens)); // the usage is on the request's row
    }
}
