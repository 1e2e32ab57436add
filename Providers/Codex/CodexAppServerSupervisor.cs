using System.Diagnostics;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// Keeps one `codex app-server` for the provider: starts it on demand (backing off when it keeps
/// dying), retires it when codexPath changes, ends it when it hangs, and notes when it exits.
/// </summary>
/// <param name="beforeFirstStart">Runs once, before the first app-server starts (removes stale scratch folders).</param>
/// <param name="stopped">True once the provider is disposed.</param>
internal sealed partial class CodexAppServerSupervisor(ServerSettings settings, ChildProcesses children, ModelCatalog catalog,
    CodexProviderOptions options, ILogger logger, MemoryBudget? budget, Action beforeFirstStart, Func<bool> stopped) : IAsyncDisposable
{
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private volatile CodexAppServer? _server;
    private int _generation;
    private int _quickDeaths;
    private int _exitsHandled;

    /// <summary>The app-server started last, alive or not (null before the first, and after a hung one was ended).</summary>
    public CodexAppServer? Current => _server;

    /// <summary>App-server exits handled (reported or not): tests wait on it, not on time.</summary>
    public int ExitsHandled => Volatile.Read(ref _exitsHandled);

    /// <summary>The running app-server, started if none runs (or the one running is retired).</summary>
    public async Task<CodexAppServer> GetAsync(CodexLaunch codex, CancellationToken cancellationToken)
    {
        if (_server is { IsAlive: true, Retired: false } running)
        {
            return running;
        }
        await _startLock.WaitAsync(cancellationToken);
        try
        {
            if (_server is { IsAlive: true, Retired: false } again)
            {
                return again;
            }
            ObjectDisposedException.ThrowIf(stopped(), typeof(CodexProvider));
            if (_quickDeaths > 0)
            {
                // A CLI that keeps dying must not be restarted in a tight loop.
                var delay = TimeSpan.FromMilliseconds(Math.Min(250 * Math.Pow(2, _quickDeaths - 1), 10_000));
                await Task.Delay(delay, cancellationToken);
            }
            if (_generation == 0)
            {
                beforeFirstStart();
            }
            ScratchDirectory.Create(settings.DataDir);
            CodexAppServer server;
            try
            {
                server = await CodexAppServer.StartAsync(children, codex, ScratchDirectory.Root(settings.DataDir), options, logger,
                    Interlocked.Increment(ref _generation), OnExited, cancellationToken);
            }
            catch
            {
                _quickDeaths++;
                throw;
            }
            _server = server;
            budget?.Started("codex");
            LogStarted(logger, server.Pid, server.Generation);
            _ = LoadModelsAsync(server);
            return server;
        }
        finally
        {
            _startLock.Release();
        }
    }

    private async Task LoadModelsAsync(CodexAppServer server)
    {
        try
        {
            catalog.SetReportedCodexModels(await server.ListModelsAsync(options.RequestTimeout));
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException)
        {
            LogModelListFailed(logger, e.Message);
        }
    }

    /// <summary>
    /// A new codexPath: the app-server of the old codex (and the spare threads in it) ends as soon
    /// as no turn runs on it; the next turn starts the new one, where conversations resume.
    /// </summary>
    public void Retire()
    {
        if (_server is { } old)
        {
            _ = RetireAsync(old);
        }
    }

    private async Task RetireAsync(CodexAppServer old)
    {
        old.Retired = true;
        while (old.IsAlive && !old.Subscriptions.IsEmpty && !stopped())
        {
            await Task.Delay(250);
        }
        LogRetired(logger, old.Pid);
        children.End(old.Process);
    }

    private void OnExited(CodexAppServer server)
    {
        if (!stopped() && !children.ShuttingDown && !server.Retired)
        {
            var uptime = Stopwatch.GetElapsedTime(server.StartedAt);
            _quickDeaths = uptime < TimeSpan.FromSeconds(30) ? _quickDeaths + 1 : 0;
            LogExited(logger, server.Pid, server.ExitDescription, server.StderrTail);
        }
        children.End(server.Process);
        Interlocked.Increment(ref _exitsHandled);
    }

    /// <summary>
    /// An app-server that leaves a request unanswered is hung, not busy (requests are answered at once,
    /// turns run in the background): ending it frees its turns, and the next request starts a new one.
    /// </summary>
    public void EndHung()
    {
        if (_server is { IsAlive: true } hung)
        {
            LogHung(logger, hung.Pid);
            // Forgotten now, not once its pipes close: a request arriving in between must start a new one.
            _server = null;
            children.End(hung.Process);
        }
    }

    /// <summary>Ends the app-server (the provider is disposed).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_server is { } server)
        {
            children.End(server.Process);
            await server.Rpc.DisposeAsync();
            server.Process.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "codex app-server {Pid} ended: codexPath changed")]
    private static partial void LogRetired(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started codex app-server as PID {Pid} (start #{Generation})")]
    private static partial void LogStarted(ILogger logger, int pid, int generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server PID {Pid} ended ({Exit}); last stderr: {Stderr}")]
    private static partial void LogExited(ILogger logger, int pid, string exit, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex app-server PID {Pid} left a request unanswered; ending it")]
    private static partial void LogHung(ILogger logger, int pid);

    [LoggerMessage(Level = LogLevel.Debug, Message = "model/list failed: {Reason}")]
    private static partial void LogModelListFailed(ILogger logger, string reason);
}
