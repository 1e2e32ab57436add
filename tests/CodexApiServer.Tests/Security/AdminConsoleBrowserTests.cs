using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

public sealed class AdminConsoleBrowserTests
{
    [Fact]
    public async Task The_first_start_opens_a_setup_page_that_says_what_each_cli_needs()
    {
        var codex = FakeCli.Write("codex", "case \"$1\" in --version) echo 'codex-cli 1.2.3';; login) echo 'Not logged in'; exit 1;; esac\n");
        await using var server = await TestServer.StartAsync($$"""{"codexPath": "{{codex}}", "claudePath": "/nonexistent/claude"}""", firstRun: true);
        var expected = $$"""{"masterKey": "{{server.Settings.Config.MasterKey}}", "codex": "Log in on this machine: codex login", "claude": "Install: npm install -g @anthropic-ai/claude-code"}""";
        var (exit, output) = await NodeScript.RunAsync("setup-check.mjs", [server.BaseAddress.ToString().TrimEnd('/'), expected], TimeSpan.FromSeconds(90));
        NodeScript.AssertPassed(exit, output, "setup-check.mjs");
        Assert.Contains("5/5 checks passed", output);
    }

    [Fact]
    public async Task Later_starts_open_the_console()
    {
        await using var server = await TestServer.StartAsync("{}"); // a config file from an earlier start
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        var response = await client.GetAsync("/");
        Assert.Equal("/admin", response.Headers.Location?.OriginalString);
    }
}
