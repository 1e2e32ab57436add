using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Ops;

public sealed class DoctorTests
{
    private static async Task<(int ExitCode, string Output)> DoctorAsync(string codexPath, string claudePath, IReadOnlyDictionary<string, string?> environment)
    {
        var dataDir = TempDir.Create("doctor");
        var port = ServiceTests.FreePort();
        await File.WriteAllTextAsync(Path.Combine(dataDir, "config.json"),
            new JsonObject { ["codexPath"] = codexPath, ["claudePath"] = claudePath, ["port"] = port }.ToJsonString());
        try
        {
            return await ServiceTests.RunSelfAsync(["doctor", "--data-dir", dataDir], new Dictionary<string, string?>(environment), TimeSpan.FromSeconds(240));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task With_the_real_clis_logged_in_to_model_servers_every_check_passes_and_each_cli_answers_a_turn()
    {
        await using var codexUpstream = await MockResponsesUpstream.StartAsync();
        await using var claudeUpstream = await MockAnthropicUpstream.StartAsync();
        codexUpstream.Chunks = ["o", "k"];
        claudeUpstream.Reply = _ => new MockReply(["o", "k"], InputTokens: 5, OutputTokens: 1, CacheReadTokens: 0);
        var claudeHome = TempDir.Create("doctor-claude-home");
        var environment = new Dictionary<string, string?>(codexUpstream.CodexEnvironment(maxRetries: 1));
        foreach (var (key, value) in claudeUpstream.ClaudeEnvironment(claudeHome))
        {
            environment[key] = value;
        }
        try
        {
            var (exit, output) = await DoctorAsync(RealClis.Codex, RealClis.Claude, environment);
            Assert.True(exit == 0, output);
            foreach (var line in new[]
                     {
                         "ok    data directory: ", "ok    port: ", $"ok    codex found: {RealClis.Codex}", "ok    codex version: 0.169.0",
                         "ok    codex logged in: ", "ok    codex test turn: gpt-5.2-codex answered \"ok\"", $"ok    claude found: {RealClis.Claude}",
                         "ok    claude version: 2.1.331", "ok    claude logged in: api_key", "ok    claude test turn: haiku answered \"ok\"",
                         "ok    service: not installed", "doctor: all 12 checks passed",
                     })
            {
                Assert.Contains(line, output);
            }
            Assert.NotEmpty(codexUpstream.Requests);
            Assert.NotEmpty(claudeUpstream.MessageRequests);
        }
        finally
        {
            TempDir.Delete(claudeHome);
            TempDir.Delete(environment["CODEX_HOME"]!);
        }
    }

    [Fact]
    public async Task A_missing_cli_fails_with_its_install_command_and_a_non_zero_exit()
    {
        var (exit, output) = await DoctorAsync(RealClis.Codex, "/nonexistent/claude", new Dictionary<string, string?> { ["CODEX_HOME"] = TempDir.Create("doctor-codex-home") });
        Assert.Equal(1, exit);
        Assert.Contains("FAIL  claude found: ", output);
        Assert.Contains("fix: npm install -g @anthropic-ai/claude-code (or set claudePath in config.json)", output);
        // Codex has no login here: its turn fails, and the fix is the login command.
        Assert.Contains("FAIL  codex logged in: ", output);
        Assert.Contains("fix: run on this machine, as the user the server runs as: codex login", output);
        Assert.Contains("checks failed", output);
    }

    [Theory]
    [InlineData("codex-cli 0.169.0", "0.169.0")]
    [InlineData("2.1.331 (Claude Code)", "2.1.331")]
    [InlineData("codex-cli v0.170.1-alpha.2", "0.170.1")]
    [InlineData("garbage", null)]
    public void Versions_are_read_from_the_clis_own_lines(string line, string? expected) =>
        Assert.Equal(expected, Doctor.ParseVersion(line)?.ToString());

    [Fact]
    public void An_older_cli_fails_with_the_update_command_and_a_newer_one_passes()
    {
        var old = Doctor.VersionCheck("claude", "2.0.1 (Claude Code)");
        Assert.False(old.Passed);
        Assert.Equal("update it: npm install -g @anthropic-ai/claude-code@latest", old.Fix);
        Assert.True(Doctor.VersionCheck("codex", "codex-cli 0.200.0").Passed);
    }
}
