using CodexApiServer.Hosting;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Storage;

namespace CodexApiServer.Providers;

/// <summary>
/// warmOnStart: once the server listens, the CLIs the first requests will most likely need are
/// started in the background, so those requests do not wait for a CLI start: the codex app-server,
/// and one spare claude for the Claude model used most in the last day by the usage log (none on a
/// first start). Each only when its CLI is installed and there is free room in the memory budget.
/// </summary>
public sealed partial class WarmStart(ServerSettings settings, UsageLog usage, ModelCatalog catalog, CodexProvider codex, ClaudeProvider claude, ILogger<WarmStart> logger)
{
    /// <summary>The warm-up under way (tests wait on it).</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start(CancellationToken stopping)
    {
        if (settings.Config.WarmOnStart)
        {
            Completion = Task.Run(() => RunAsync(stopping), stopping);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            var since = DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds();
            if (usage.MostUsedModel("claude", since) is { } name && catalog.Find(name) is { Provider: ProviderKind.Claude } model && claude.Warm(model.CliModel))
            {
                LogWarmed(logger, "claude", model.CliModel);
            }
            if (await codex.WarmAsync(stopping))
            {
                LogWarmed(logger, "codex", "app-server");
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or ObjectDisposedException or InvalidOperationException or TimeoutException or Microsoft.Data.Sqlite.SqliteException)
        {
            // The first request starts what is missing, as without warmOnStart.
            LogWarmFailed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Warm at start: {Cli} {What} started")]
    private static partial void LogWarmed(ILogger logger, string cli, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm at start failed: {Reason}")]
    private static partial void LogWarmFailed(ILogger logger, string reason);
}
