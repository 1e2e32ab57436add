using System.Text.Json;
using System.Text.Json.Nodes;

namespace CodexApiServer.Hosting;

/// <summary>One problem with a config value and the key it is about.</summary>
public sealed record ConfigProblem(string Key, string Message);

/// <summary>One config key as the settings page shows it: type and default come from <see cref="ServerConfig"/> itself.</summary>
/// <param name="Type">"integer", "boolean", "string", "string_list" or "model_list".</param>
/// <param name="Choices">The only values allowed, when the key has a fixed set.</param>
public sealed record ConfigField(string Key, string Type, bool Nullable, JsonNode? Default, string Meaning, bool Restart, bool Secret, IReadOnlyList<string>? Choices);

/// <summary>
/// What each key of config.json means: the one description the settings page is generated from, so
/// the page cannot drift from the config. A key of <see cref="ServerConfig"/> missing here is a test failure.
/// </summary>
public static class ConfigSchema
{
    private sealed record Info(string Meaning, bool Restart = false, bool Secret = false, string[]? Choices = null);

    private static readonly Dictionary<string, Info> Meanings = new()
    {
        ["port"] = new("TCP port the server listens on (0 picks a free one).", Restart: true),
        ["host"] = new("Address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface.", Restart: true),
        ["defaultModel"] = new("Model used when a request names none."),
        ["allowLocalWithoutAuth"] = new("Requests from this machine need no key. Requests from outside always do."),
        ["masterKey"] = new("The key that can do everything. Shown and regenerated below, never in this form.", Secret: true),
        ["tunnelAutoStart"] = new("Start the Cloudflare tunnel when the server starts."),
        ["tunnelToken"] = new("Token of a named Cloudflare tunnel (empty: quick tunnels only). Leave empty to keep the one set.", Secret: true),
        ["tunnelCustomUrl"] = new("Public URL of the named tunnel, e.g. https://api.example.com."),
        ["codexPath"] = new("Path to the codex executable (empty: found on PATH)."),
        ["claudePath"] = new("Path to the claude executable (empty: found on PATH)."),
        ["cloudflaredPath"] = new("Path to the cloudflared executable (empty: installed copy or PATH)."),
        ["maxRequestBodyBytes"] = new("Largest request body accepted, in bytes; larger ones get 413.", Restart: true),
        ["corsOrigins"] = new("Browser origins allowed to call the API cross-origin, one per line (https://app.example.com)."),
        ["allowedHosts"] = new("Extra host names this server is reached by (a reverse proxy, a LAN name), one per line."),
        ["maxConcurrentTurns"] = new("Turns running at once per CLI; more wait in a queue.", Restart: true),
        ["queueTimeoutSeconds"] = new("Longest a request waits in the queue before 429."),
        ["turnTimeoutSeconds"] = new("Longest a single turn may run before it is interrupted."),
        ["toolResultTimeoutSeconds"] = new("Longest a turn waits for the client's tool results."),
        ["firstOutputTimeoutSeconds"] = new("Longest wait for a turn's first output from the CLI before it counts as hung (504)."),
        ["idleStreamTimeoutSeconds"] = new("Longest silence from the CLI once a turn has output."),
        ["memoryBudgetMb"] = new("Most memory the CLI processes may hold together, in MB (empty: a third of this machine's)."),
        ["maxSparesPerModel"] = new("Most warm spare Claude processes per model and instructions; how many are kept follows how often new conversations come (0: none)."),
        ["warmOnStart"] = new("Start the codex app-server and a spare for the most used Claude model when the server starts.", Restart: true),
        ["mode"] = new("chat: no agent tools, read-only sandbox. agent: the CLIs may change agentWorkingDirectory.", Restart: true, Choices: ["chat", "agent"]),
        ["claudeSystemPrompt"] = new("replace: the request's instructions replace Claude Code's system prompt. append: added to it.", Choices: ["replace", "append"]),
        ["agentWorkingDirectory"] = new("Folder the agents may write to in agent mode.", Restart: true),
        ["models"] = new("Extra models to list and route, beyond the built-in ones: an id and a provider (codex or claude)."),
    };

    /// <summary>Every key of config.json, in the order of <see cref="ServerConfig"/>.</summary>
    public static IReadOnlyList<ConfigField> Fields { get; } = Build();

    /// <summary>Keys whose new value only takes effect when the server starts again.</summary>
    public static IReadOnlyList<string> RestartKeys { get; } = Fields.Where(f => f.Restart).Select(f => f.Key).ToList();

    /// <summary>Keys never sent to the console.</summary>
    public static IReadOnlyList<string> SecretKeys { get; } = Fields.Where(f => f.Secret).Select(f => f.Key).ToList();

    /// <summary>Keys of <see cref="ServerConfig"/> that have no meaning written here (a test keeps it empty).</summary>
    public static IReadOnlyList<string> Undescribed => Fields.Where(f => f.Meaning.Length == 0).Select(f => f.Key).ToList();

    private static List<ConfigField> Build()
    {
        var defaults = JsonSerializer.SerializeToNode(new ServerConfig(), ConfigJsonContext.Default.ServerConfig)!.AsObject();
        var fields = new List<ConfigField>();
        foreach (var property in ConfigJsonContext.Default.ServerConfig.Properties)
        {
            if (property.IsExtensionData)
            {
                continue;
            }
            var type = property.PropertyType;
            var nullable = Nullable.GetUnderlyingType(type) is not null || (!type.IsValueType && property.Get?.Invoke(new ServerConfig()) is null);
            type = Nullable.GetUnderlyingType(type) ?? type;
            var kind = type == typeof(int) || type == typeof(long) ? "integer"
                : type == typeof(bool) ? "boolean"
                : type == typeof(List<string>) ? "string_list"
                : type == typeof(List<ConfiguredModel>) ? "model_list"
                : "string";
            var info = Meanings.GetValueOrDefault(property.Name) ?? new Info("");
            fields.Add(new ConfigField(property.Name, kind, nullable, defaults[property.Name]?.DeepClone(), info.Meaning, info.Restart, info.Secret, info.Choices));
        }
        return fields;
    }
}
