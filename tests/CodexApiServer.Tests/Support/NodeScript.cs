using System.Diagnostics;

namespace CodexApiServer.Tests.Support;

/// <summary>Runs one of the client scripts in tests/node (real SDKs, real browser) and returns what it printed.</summary>
public static class NodeScript
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string script, IEnumerable<string> args, TimeSpan timeout)
    {
        var dir = Path.GetDirectoryName(RealClis.NodeModulesBin)!; // tests/node/node_modules
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.GetDirectoryName(dir)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout.TotalSeconds} s\n{await stdout}\n{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// Fails naming the checks (or the console-check step) that failed, as the script reports them
    /// on its "FAILED CHECKS [...]" line, with the whole output after; else fails on a non-zero exit.
    /// </summary>
    public static void AssertPassed(int exitCode, string output, string? script = null)
    {
        const string Marker = "FAILED CHECKS ";
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith(Marker, StringComparison.Ordinal));
        if (line is not null)
        {
            var names = System.Text.Json.Nodes.JsonNode.Parse(line[Marker.Length..])!.AsArray().Select(n => (string?)n);
            Assert.Fail($"{script} failed checks: {string.Join("; ", names)}\n\n{output}");
        }
        Assert.True(exitCode == 0, $"{script} exited {exitCode}:\n{output}");
    }
}
