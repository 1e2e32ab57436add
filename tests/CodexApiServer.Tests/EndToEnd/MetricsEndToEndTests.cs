using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>/metrics after a chat on each real CLI, as a Prometheus scraper from outside reads it (a text-format parser from npm).</summary>
[Collection(EndToEndGroup.Name)]
public sealed class MetricsEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    [Fact(Timeout = 120_000)]
    public async Task Metrics_count_requests_latency_first_token_tokens_processes_and_tunnel_and_parse()
    {
        stack.ResetMocks();
        var server = stack.Server;
        foreach (var model in new[] { RealStackFixture.CodexModel, RealStackFixture.ClaudeModel })
        {
            using var response = await server.PostAsync("/v1/chat/completions", Wire.Chat(model, true, ("user", "hi")));
            Assert.Equal(200, (int)response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }
        output.WriteLine(await server.Client.GetStringAsync("/metrics"));
        var master = server.App.Services.GetRequiredService<ServerSettings>().Config.MasterKey!;
        var (exit, text) = await NodeScript.RunAsync("metrics-check.mjs",
            [server.Client.BaseAddress!.ToString().TrimEnd('/'), master, RealStackFixture.CodexModel, RealStackFixture.ClaudeModel], TimeSpan.FromSeconds(60));
        output.WriteLine(text);
        NodeScript.AssertPassed(exit, text, "metrics-check.mjs");
    }
}
