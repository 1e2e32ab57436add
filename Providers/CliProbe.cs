using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers;

/// <summary>
/// Finds the CLIs and asks each for its version and login state, in the background, every few
/// minutes. Readers get the cached answer at once: nothing on a request path waits on a child.
/// </summary>
public sealed partial class CliProbe(ServerSettings settings, ChildProcesses children, ILogger<CliProbe> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private volatile CliStatus _codex = new("codex", false, null, null, null, null, null, null);
    private volatile CliStatus _claude = new("claude", false, null, null, null, null, null, null);

    public CliStatus Codex => _codex;
    public CliStatus Claude => _claude;

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
            await Task.WhenAll(
                ProbeAsync("codex", CodexPath, ["login", "status"], s => _codex = KeepCodexAccount(s), stoppingToken),
                ProbeAsync("claude", ClaudePath, ["auth", "status"], s => _claude = s, stoppingToken));
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

    private async Task ProbeAsync(string name, string? path, string[] loginArgs, Action<CliStatus> publish, CancellationToken cancellationToken)
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
            var (versionExit, versionOut) = await children.RunAsync(path, ["--version"], CommandTimeout, cancellationToken);
            var version = versionExit == 0 ? versionOut.Trim().Split('\n')[0].Trim() : null;
            var (loginExit, _) = await children.RunAsync(path, loginArgs, CommandTimeout, cancellationToken);
            publish(new CliStatus(name, true, path, version, loginExit == 0, null,
                loginExit == 0 ? null : $"not logged in; run on the server: {LoginHint(name)}", now));
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
        var names = OperatingSystem.IsWindows() ? new[] { command + ".cmd", command + ".exe", command } : [command];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Probing {Cli} failed: {Reason}")]
    private static partial void LogProbeFailed(ILogger logger, string cli, string reason);
}
