using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>What of the operator's own codex setup a chat request can reach, with the real codex CLI.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class CodexIsolationEndToEndTests(ITestOutputHelper output)
{
    // A minimal stdio MCP server offering one tool; it notes each start in MCP_STARTED.
    private const string McpServer = """
        import fs from 'node:fs';
        import readline from 'node:readline';
        fs.appendFileSync(process.env.MCP_STARTED, 'started ' + process.pid + '\n');
        const send = o => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...o }) + '\n');
        readline.createInterface({ input: process.stdin }).on('line', line => {
          const m = JSON.parse(line);
          if (m.id === undefined) return;
          if (m.method === 'initialize') send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'host', version: '1' } } });
          else if (m.method === 'tools/list') send({ id: m.id, result: { tools: [{ name: 'run_on_host', description: 'Runs a command on the host.', inputSchema: { type: 'object', properties: { command: { type: 'string' } } } }] } });
          else send({ id: m.id, result: {} });
        });
        """;

    [Fact(Timeout = 120_000)]
    public async Task A_codex_config_with_an_MCP_server_offers_no_tool_to_the_mock_upstream()
    {
        await using var upstream = await MockResponsesUpstream.StartAsync();
        var dir = TempDir.Create("mcp");
        var script = Path.Combine(dir, "host-tools.mjs");
        await File.WriteAllTextAsync(script, McpServer);
        var started = Path.Combine(dir, "started");
        var environment = upstream.CodexEnvironment(maxRetries: 1, extraToml: $$"""
            [mcp_servers.host_tools]
            command = "node"
            args = ["{{script}}"]
            env = { MCP_STARTED = "{{started}}" }
            """);
        var codex = new CodexProviderOptions { Environment = environment };
        var claude = new ClaudeProviderOptions();

        await using (var server = await RealStackServer.StartAsync(null, null, codex, claude))
        {
            var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal("Hello from the mock.", (string?)body["choices"]![0]!["message"]!["content"]);
            // The spare thread started after the turn must not start the server either.
            Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => server.Codex.SpareCount >= 1, TimeSpan.FromSeconds(20)), "no spare thread");
            var request = Assert.Single(upstream.Requests);
            output.WriteLine($"chat mode: tools {request["tools"]?.ToJsonString()}");
            Assert.Empty(request["tools"]?.AsArray() ?? []);
            Assert.DoesNotContain("host_tools", request.ToJsonString(), StringComparison.Ordinal);
            Assert.DoesNotContain("run_on_host", request.ToJsonString(), StringComparison.Ordinal);
            Assert.False(File.Exists(started), "the MCP server was started for a chat thread");
        }

        // The control: the same config in agent mode, where the operator's tools are meant, does start it and offer its tool.
        var work = TempDir.Create("mcp-agent");
        var agentConfig = new JsonObject { ["mode"] = "agent", ["agentWorkingDirectory"] = work }.ToJsonString();
        await using (var server = await RealStackServer.StartAsync(null, agentConfig, codex, claude))
        {
            var (response, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
            Assert.Equal(200, (int)response.StatusCode);
            var request = upstream.Requests[^1];
            Assert.Contains("host_tools", request["tools"]!.ToJsonString(), StringComparison.Ordinal);
            Assert.True(File.Exists(started), "the control never started the MCP server");
        }
        TempDir.Delete(environment["CODEX_HOME"]!);
        TempDir.Delete(dir);
        TempDir.Delete(work);
    }
}
