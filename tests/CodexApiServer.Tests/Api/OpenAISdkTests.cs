using System.Diagnostics;

namespace CodexApiServer.Tests.Api;

public sealed class OpenAISdkTests
{
    [Fact]
    public async Task The_official_openai_npm_sdk_reads_every_route()
    {
        var nodeDir = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../node"));
        var script = Path.Combine(nodeDir, "sdk-check.mjs");
        Assert.True(File.Exists(script), script);
        Assert.True(Directory.Exists(Path.Combine(nodeDir, "node_modules", "openai")), "run npm ci in tests/node");

        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var start = new ProcessStartInfo("node") { WorkingDirectory = nodeDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(server.BaseAddress.ToString());
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, "sdk-check.mjs failed:\n" + output);
        Assert.Contains("12/12 checks passed", output);
    }
}
