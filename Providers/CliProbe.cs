using CodexApiServer.Children;
using CodexApiServer.Hosting;
using CodexApiServer.Providers.Codex;

namespace CodexApiServer.Providers;

/// <summary>
/// Finds the CLIs and asks each for its version and login state, in the background, every few
/// minutes. Readers get the cached answer at once: nothing on a request path waits on a child.
/// </summary>
/// <param name="claudeOptions">The environment claude runs with: its login is probed with the same one (an ANTHROPIC_API_KEY there counts).</param>
public sealed partial class CliProbe(ServerSettings settings, ChildProcesses children, ILogger<CliProbe> logger, Claude.ClaudeProviderOptions? claudeOptions = null) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private volatile CliStatus _codex = new("codex", false, null, null, null, null, null, null);
    private volatile CliStatus _claude = new("claude", false, null, null, null, null, null, null);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CliRefusal> _refusals = new(StringComparer.Ordinal);

    public CliStatus Codex => WithRefusal(_codex);
    public CliStatus Claude => WithRefusal(_claude);

    /// <summary>A provider reports a request its subscription refused as third-party use; /health and the dashboard show the last one.</summary>
    public void RecordRefusal(string cli, string message) => _refusals[cli] = new CliRefusal(message, DateTimeOffset.UtcNow);

    private CliStatus WithRefusal(CliStatus status) =>
        _refusals.TryGetValue(status.Name, out var refusal) ? status with { LastRefusal = refusal } : status;

    /// <summary>The provider layer reports which Codex mode it runs (app-server or exec).</summary>
    public void SetCodexMode(string mode) => _codex = _codex with { Mode = mode };

    /// <summary>The Codex provider reports that chat threads keep Codex's own base instructions.</summary>
    public void SetCodexInstructionsFallback(bool on) => _codex = _codex with { InstructionsFallback = on };

    /// <summary>
    /// The Codex provider reports codex's own answer (app-server `account/read`): `codex login status` fails for a
    /// model provider with its own API key (`env_key`), which is logged in as far as answering goes.
    /// </summary>
    public void SetCodexLogin(string login, bool loggedIn)
    {
        _codexAccount = new CodexAccount(login, loggedIn);
        _codex = KeepCodexAccount(_codex);
    }

    private volatile CodexAccount? _codexAccount;

    private sealed record CodexAccount(string Login, bool LoggedIn);

    /// <summary>A new probe result, with what the provider reported kept: the account codex read outranks `codex login status`.</summary>
    private CliStatus KeepCodexAccount(CliStatus probed)
    {
        var kept = probed with { Mode = _codex.Mode, InstructionsFallback = _codex.InstructionsFallback };
        return _codexAccount is not { } account || !probed.Found
            ? kept
            : kept with { Login = account.Login, LoggedIn = account.LoggedIn, Error = account.LoggedIn ? null : $"not logged in; run on the server: {LoginHint("codex")}" };
    }

    public string? CodexPath => Locate(settings.Config.CodexPath, "codex");
    public string? ClaudePath => Locate(settings.Config.ClaudePath, "claude");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // codex's npm wrapper would keep a node process (~44 MB) alive for each probe: run the binary behind it, as the provider does.
            var codex = CodexPath is { } codexPath ? CodexLaunch.For(codexPath, null) : null;
            await Task.WhenAll(
                ProbeAsync("codex", CodexPath, ["login", "status"], s => _codex = KeepCodexAccount(s), stoppingToken, codex?.Environment, run: codex?.File),
                ProbeAsync("claude", ClaudePath, ["auth", "status", "--json"], s => _claude = s, stoppingToken, claudeOptions?.Environment, ClaudeLogin));
            try
            {
                await Task.Delay(Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ProbeAsync(string name, string? path, string[] loginArgs, Action<CliStatus> publish, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string?>? environment = null, Func<int, string, string?>? loginKind = null, string? run = null)
    {
        var now = DateTimeOffset.UtcNow;
        if (path is null)
        {
            publish(new CliStatus(name, false, null, null, null, null, $"{name} not found; install it with: {InstallHint(name)}", now));
            return;
        }
        publish(new CliStatus(name, true, path, null, null, null, null, null));
        try
        {
            var (versionExit, versionOut) = await children.RunAsync(run ?? path, ["--version"], CommandTimeout, cancellationToken, environment);
            var version = versionExit == 0 ? versionOut.Trim().Split('\n')[0].Trim() : null;
            var (loginExit, loginOut) = await children.RunAsync(run ?? path, loginArgs, CommandTimeout, cancellationToken, environment);
            var login = loginKind?.Invoke(loginExit, loginOut);
            var loggedIn = login is null ? loginExit == 0 : login != "none";
            publish(new CliStatus(name, true, path, version, loggedIn, null,
                loggedIn ? null : $"not logged in; run on the server: {LoginHint(name)}", now, login));
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is TimeoutException or System.ComponentModel.Win32Exception or IOException)
        {
            LogProbeFailed(logger, name, e.Message);
            publish(new CliStatus(name, true, path, null, null, null, e.Message, now));
        }
    }

    /// <summary>
    /// Claude's login from `claude auth status --json` (2.1.331): authMethod "claude.ai" (a subscription
    /// login stored under HOME/.claude) or "oauth_token" (CLAUDE_CODE_OAUTH_TOKEN) is "oauth"; "api_key"
    /// (ANTHROPIC_API_KEY, which wins over a stored login) is "api_key"; "none" with loggedIn false.
    /// Another method (a cloud provider's) as claude names it. Null when the output is not that JSON or
    /// names no method (another version): the exit code decides then.
    /// </summary>
    public static string? ClaudeLogin(int exitCode, string stdout)
    {
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(stdout);
            var root = json.RootElement;
            var method = root.TryGetProperty("authMethod", out var m) && m.ValueKind == System.Text.Json.JsonValueKind.String ? m.GetString() : null;
            var loggedIn = root.TryGetProperty("loggedIn", out var l) && l.ValueKind == System.Text.Json.JsonValueKind.True;
            return !loggedIn || method == "none" ? "none"
                : method is "claude.ai" or "oauth_token" ? "oauth"
                : method == "api_key" ? "api_key"
                : method;
        }
        catch (System.Text.Json.JsonException)
        {
            return exitCode == 0 ? null : "none";
        }
    }

    public static string InstallHint(string name) => name == "claude"
        ? "npm install -g @anthropic-ai/claude-code"
        : "npm install -g @openai/codex";

    public static string LoginHint(string name) => name == "claude" ? "claude, then /login" : "codex login";

    /// <summary>The configured path if it exists, else the first match on PATH.</summary>
    public static string? Locate(string? configured, string command)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured) ? Path.GetFullPath(configured) : null;
        }
        return HostOsInfo.Current.FindOnPath(command, Environment.GetEnvironmentVariable("PATH"), Environment.GetEnvironmentVariable("PATHEXT"), File.Exists);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Probing {Cli} failed: {Reason}")]
    private static partial void LogProbeFailed(ILogger logger, string cli, string reason);
}
