namespace CodexApiServer.Providers.Codex;

public sealed class CodexProviderOptions
{
    /// <summary>Where codex's `account/rateLimits/updated` reports go.</summary>
    public UsageWindows? UsageWindows { get; set; }

    /// <summary>Extra environment for the codex child (tests point it at a mock model server); null keeps ours.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>How long a JSON-RPC request (initialize, thread/start, turn/start ...) may take to be answered.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public int MaxLineBytes { get; init; } = JsonRpcLineClient.DefaultMaxLineBytes;

    /// <summary>Threads kept loaded at once; the least recently used idle ones beyond are unloaded (and resumed when used again).</summary>
    public int MaxLiveSessions { get; init; } = 256;

    /// <summary>"app-server" or "exec" to skip detection; null detects from `codex --help`.</summary>
    public string? ForceMode { get; init; }
}
