using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;
using CodexApiServer.Tests.Tunnel;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// The admin console and setup page in a real Chromium (tests/node/console-check.mjs), signed in from
/// outside with the master key, over the real CLIs and the mock model servers, with a fake cloudflared.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class AdminConsoleEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    /// <summary>Where the screenshots of every page go: CONSOLE_SCREENSHOTS, else beside the test binaries.</summary>
    public static string ScreenshotDir =>
        Environment.GetEnvironmentVariable("CONSOLE_SCREENSHOTS") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "console-screenshots");

    [Fact(Timeout = 400_000)]
    public async Task An_operator_from_outside_uses_every_part_of_the_console_in_a_real_browser()
    {
        stack.ResetMocks();
        // Deltas far enough apart that the page can be seen filling in.
        stack.CodexUpstream.DeltaDelay = TimeSpan.FromMilliseconds(150);
        // cloudflared is not installed: the console installs it (the fake, from a release server on loopback that
        // holds the second half of the file for a moment, so the progress shows), then starts a quick tunnel.
        Assert.Null(CodexApiServer.Providers.CliProbe.Locate(null, "cloudflared"));
        var fake = FakeCloudflared.Create();
        var release = new TaskCompletionSource();
        var content = System.Text.Encoding.UTF8.GetBytes(fake.ScriptText + "\n#" + new string('x', 200_000) + "\n");
        var (releaseServer, downloadBase, downloads) = await TunnelInstallTests.StartReleaseServerAsync(content, release.Task);
        await using var releasing = releaseServer;
        _ = Task.Run(async () =>
        {
            while (downloads.Count == 0)
            {
                await Task.Delay(50);
            }
            await Task.Delay(TimeSpan.FromSeconds(4));
            release.SetResult();
        });
        stack.Server.App.Services.GetRequiredService<CodexApiServer.Tunnel.TunnelOptions>().DownloadBaseUrl = downloadBase.ToString();
        var settings = stack.Server.App.Services.GetRequiredService<ServerSettings>();
        var master = settings.Config.MasterKey!;
        var patch = new JsonObject { ["tunnelToken"] = "tok-kept-by-the-console" };
        using (var response = await stack.Server.Client.PatchAsync("/admin/config", new StringContent(patch.ToJsonString(), System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        var options = new JsonObject
        {
            ["masterKey"] = master,
            ["codexModel"] = RealStackFixture.CodexModel,
            ["claudeModel"] = RealStackFixture.ClaudeModel,
            ["answer"] = RealStackFixture.Text,
            ["tunnelUrl"] = fake.QuickUrl,
            ["screenshots"] = ScreenshotDir,
        };
        try
        {
            var (exit, text) = await NodeScript.RunAsync("console-check.mjs", [stack.Server.Client.BaseAddress!.ToString().TrimEnd('/'), options.ToJsonString()], TimeSpan.FromSeconds(380));
            output.WriteLine(text);
            // Beside the screenshots, what the run checked.
            await File.WriteAllTextAsync(Path.Combine(ScreenshotDir, "console-check.txt"), text);
            NodeScript.AssertPassed(exit, text, "console-check.mjs");
        }
        finally
        {
            stack.ResetMocks();
        }
        // The playground's image and JSON schema reached the model.
        Assert.Contains(stack.CodexUpstream.Requests, r => r.ToJsonString().Contains("data:image/png;base64,iVBOR", StringComparison.Ordinal));
        Assert.Contains(stack.CodexUpstream.Requests, r => r["text"]?["format"]?["type"]?.GetValue<string>() == "json_schema");
        // The settings form never saw the tunnel token, and saving other settings did not erase it.
        Assert.Equal("tok-kept-by-the-console", settings.Config.TunnelToken);
        Assert.Equal(RealStackFixture.ClaudeModel, settings.Config.DefaultModel);
        Assert.True(File.Exists(Path.Combine(ScreenshotDir, "playground-360-dark.png")));
    }
}
