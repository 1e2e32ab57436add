using System.Text.Json;
using System.Text.Json.Serialization;

namespace CodexApiServer.Hosting;

/// <summary>The settings in config.json. Names and defaults follow the original product.</summary>
public sealed class ServerConfig
{
    public const int DefaultPort = 8080;
    public const string DefaultHost = "127.0.0.1";

    public int Port { get; set; } = DefaultPort;
    public string Host { get; set; } = DefaultHost;
    public string DefaultModel { get; set; } = "gpt-5.2-codex";
    public bool AllowLocalWithoutAuth { get; set; } = true;
    public string? MasterKey { get; set; }
    public bool TunnelAutoStart { get; set; }
    public string? TunnelToken { get; set; }
    public string? TunnelCustomUrl { get; set; }
    public string? CodexPath { get; set; }
    public string? ClaudePath { get; set; }
    public string? CloudflaredPath { get; set; }

    /// <summary>Largest request body accepted, in bytes; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 20 * 1024 * 1024;

    /// <summary>Browser origins (scheme://host[:port]) allowed to call the API cross-origin.</summary>
    public List<string> CorsOrigins { get; set; } = [];

    /// <summary>
    /// Host names (no scheme, no port) this server is reached by besides the loopback names and
    /// <see cref="Host"/>, e.g. the name of a reverse proxy on this machine. Requests for any other
    /// name are refused: that is what keeps a DNS-rebinding page from passing as local.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Turns running at once per provider; more wait in a queue.</summary>
    public int MaxConcurrentTurns { get; set; } = 4;

    /// <summary>Longest a request waits in the queue before 429.</summary>
    public int QueueTimeoutSeconds { get; set; } = 60;

    /// <summary>Longest a single turn may run before it is interrupted.</summary>
    public int TurnTimeoutSeconds { get; set; } = 600;

    /// <summary>
    /// Longest a turn is held waiting for the client's tool results after the model called its tools;
    /// then the calls are answered as failed and the turn is ended (its process or thread freed).
    /// Held time does not count toward turnTimeoutSeconds.
    /// </summary>
    public int ToolResultTimeoutSeconds { get; set; } = 600;

    /// <summary>Longest wait for a turn's first sign of life from the CLI; then it counts as hung (504).</summary>
    public int FirstOutputTimeoutSeconds { get; set; } = 120;

    /// <summary>
    /// Longest silence from the CLI once a turn has output: longer than the first wait, because a
    /// thinking model or an agent's command can be quiet for minutes mid-turn.
    /// </summary>
    public int IdleStreamTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Most memory our CLI processes may hold together, in MB; idle ones are ended to stay within it.
    /// Null: a third of the machine's memory.
    /// </summary>
    public int? MemoryBudgetMb { get; set; }

    /// <summary>
    /// Most warm spare Claude processes per (model, instructions, tools): how many are kept follows the
    /// recent rate of new conversations for that key, up to this; 0 keeps none.
    /// </summary>
    public int MaxSparesPerModel { get; set; } = 2;

    /// <summary>
    /// Once listening, start the codex app-server and a spare Claude process for the Claude model used
    /// most in the last day, so the first request does not wait for a CLI to start.
    /// </summary>
    public bool WarmOnStart { get; set; } = true;

    /// <summary>"chat" (default: no agent tools, read-only sandbox) or "agent".</summary>
    public string Mode { get; set; } = "chat";

    /// <summary>
    /// What a Claude process is told of the request's instructions: "replace" (default) passes them as
    /// --system-prompt instead of Claude Code's own (~0.3 KB upstream a turn in chat mode); "append" keeps
    /// Claude Code's own system prompt and adds them with --append-system-prompt (several KB more a turn),
    /// for subscriptions that refuse requests without it as third-party use. Applies to new processes.
    /// </summary>
    public string ClaudeSystemPrompt { get; set; } = "replace";

    /// <summary>Working directory the agents may write to in agent mode.</summary>
    public string? AgentWorkingDirectory { get; set; }

    /// <summary>Extra models to list and route, beyond the built-in table.</summary>
    public List<ConfiguredModel> Models { get; set; } = [];

    /// <summary>Keys this version does not know: kept on save, warned about on start.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? UnknownKeys { get; set; }

    /// <summary>The address a host setting listens on, or null when it is not one (a name would need DNS at every start).</summary>
    public static System.Net.IPAddress? ListenAddress(string? host) => host switch
    {
        "localhost" => System.Net.IPAddress.Loopback,
        "*" or "+" => System.Net.IPAddress.Any,
        _ when System.Net.IPAddress.TryParse(host, out var ip) => ip,
        _ => null,
    };

    /// <summary>Every problem with the values, each a sentence naming the key and the fix.</summary>
    public List<string> Validate() => Problems().Select(p => p.Message).ToList();

    /// <summary>Every problem with the values, with the key each is about (the console shows it at that field).</summary>
    public List<ConfigProblem> Problems()
    {
        var problems = new List<ConfigProblem>();
        if (Port is < 0 or > 65535)
        {
            problems.Add(new("port", $"port {Port} is out of range; use 1-65535 (0 picks a free port)"));
        }
        if (ListenAddress(Host) is null)
        {
            problems.Add(new("host", $"host \"{Host}\" is not an IP address to listen on; use 127.0.0.1 (this machine only), 0.0.0.0 (all interfaces), ::1, :: or localhost"));
        }
        if (!ModelName.IsValid(DefaultModel))
        {
            problems.Add(new("defaultModel", $"defaultModel \"{DefaultModel}\" is not a valid model name; use letters, digits, '.', '_', ':' or '-'"));
        }
        if (MaxRequestBodyBytes < 1024)
        {
            problems.Add(new("maxRequestBodyBytes", "maxRequestBodyBytes must be at least 1024"));
        }
        if (MaxConcurrentTurns is < 1 or > 256)
        {
            problems.Add(new("maxConcurrentTurns", "maxConcurrentTurns must be between 1 and 256"));
        }
        if (QueueTimeoutSeconds is < 0 or > 3600)
        {
            problems.Add(new("queueTimeoutSeconds", "queueTimeoutSeconds must be between 0 and 3600"));
        }
        if (ToolResultTimeoutSeconds is < 1 or > 86400)
        {
            problems.Add(new("toolResultTimeoutSeconds", "toolResultTimeoutSeconds must be between 1 and 86400"));
        }
        if (TurnTimeoutSeconds is < 1 or > 86400)
        {
            problems.Add(new("turnTimeoutSeconds", "turnTimeoutSeconds must be between 1 and 86400"));
        }
        if (FirstOutputTimeoutSeconds is < 1 or > 86400)
        {
            problems.Add(new("firstOutputTimeoutSeconds", "firstOutputTimeoutSeconds must be between 1 and 86400"));
        }
        if (IdleStreamTimeoutSeconds is < 1 or > 86400)
        {
            problems.Add(new("idleStreamTimeoutSeconds", "idleStreamTimeoutSeconds must be between 1 and 86400"));
        }
        if (MemoryBudgetMb is < 64 or > 16 * 1024 * 1024)
        {
            problems.Add(new("memoryBudgetMb", "memoryBudgetMb must be between 64 and 16777216 (MB); leave it out for a third of this machine's memory"));
        }
        if (MaxSparesPerModel is < 0 or > 16)
        {
            problems.Add(new("maxSparesPerModel", "maxSparesPerModel must be between 0 and 16"));
        }
        if (Mode is not ("chat" or "agent"))
        {
            problems.Add(new("mode", $"mode \"{Mode}\" is unknown; use \"chat\" or \"agent\""));
        }
        if (ClaudeSystemPrompt is not ("replace" or "append"))
        {
            problems.Add(new("claudeSystemPrompt", $"claudeSystemPrompt \"{ClaudeSystemPrompt}\" is unknown; use \"replace\" (the request's instructions instead of Claude Code's system prompt) or \"append\" (added to it)"));
        }
        if (Mode == "agent" && string.IsNullOrWhiteSpace(AgentWorkingDirectory))
        {
            problems.Add(new("agentWorkingDirectory", "mode \"agent\" needs agentWorkingDirectory, the folder the agents may change"));
        }
        if (MasterKey is not null && !MasterKey.StartsWith("msk_", StringComparison.Ordinal))
        {
            problems.Add(new("masterKey", "masterKey must start with msk_; delete it from the file to have a new one generated"));
        }
        foreach (var origin in CorsOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
            {
                problems.Add(new("corsOrigins", $"corsOrigins entry \"{origin}\" is not an origin like https://app.example.com"));
            }
        }
        foreach (var name in AllowedHosts)
        {
            if (Uri.CheckHostName(name.Trim('[', ']')) == UriHostNameType.Unknown)
            {
                problems.Add(new("allowedHosts", $"allowedHosts entry \"{name}\" is not a host name like myserver.lan (no scheme, no port)"));
            }
        }
        foreach (var model in Models)
        {
            if (!ModelName.IsValid(model.Id))
            {
                problems.Add(new("models", $"models entry \"{model.Id}\" is not a valid model name"));
            }
            if (model.Provider is not ("codex" or "claude"))
            {
                problems.Add(new("models", $"models entry \"{model.Id}\" has provider \"{model.Provider}\"; use \"codex\" or \"claude\""));
            }
        }
        return problems;
    }
}
