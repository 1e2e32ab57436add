using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Bench;

/// <summary>What every measure shares: the CLIs, the mocks they talk to, and the run's results table.</summary>
public sealed record BenchContext(
    string RepoRoot,
    string Codex,
    string Claude,
    MockResponsesUpstream CodexMock,
    MockAnthropicUpstream ClaudeMock,
    IReadOnlyDictionary<string, string?> CodexEnv,
    IReadOnlyDictionary<string, string?> ClaudeEnv,
    int? Runs,
    List<string[]> Results)
{
    public const string CodexModel = "gpt-5.2-codex";
    public const string ClaudeModel = "claude-sonnet-4-5";

    /// <summary>Both CLIs' environments in one, for a server child (its CLIs inherit it).</summary>
    public Dictionary<string, string?> ServerEnv()
    {
        var env = new Dictionary<string, string?>(ClaudeEnv);
        foreach (var (k, v) in CodexEnv)
        {
            env[k] = v;
        }
        return env;
    }

    /// <summary>A config for a server child on the real CLIs, plus <paramref name="extra"/>.</summary>
    public JsonObject RealConfig(JsonObject? extra = null)
    {
        var config = new JsonObject { ["codexPath"] = Codex, ["claudePath"] = Claude };
        foreach (var (k, v) in extra ?? [])
        {
            config[k] = v?.DeepClone();
        }
        return config;
    }

    public static string Pass(bool ok) => ok ? "yes" : "NO";

    public static string Mb(long kb) => $"{kb / 1024.0:0.0} MB";
}
