using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Children;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;

namespace CodexApiServer.Tests.Support;

/// <summary>A CodexProvider built from its real dependencies, pointed at a given codex executable.</summary>
public sealed class CodexHarness : IAsyncDisposable
{
    private CodexHarness(string dataDir, ServerSettings settings, ChildProcesses children, CliProbe probe, ModelCatalog catalog,
        CodexProvider provider, CapturingLoggerProvider logs, ILoggerFactory loggerFactory)
    {
        DataDir = dataDir;
        Settings = settings;
        Children = children;
        Probe = probe;
        Catalog = catalog;
        Provider = provider;
        Logs = logs;
        _loggerFactory = loggerFactory;
    }

    private readonly ILoggerFactory _loggerFactory;

    public string DataDir { get; }
    public ServerSettings Settings { get; }
    public ChildProcesses Children { get; }
    public CliProbe Probe { get; }
    public ModelCatalog Catalog { get; }
    public CodexProvider Provider { get; }
    public CapturingLoggerProvider Logs { get; }

    /// <param name="agentDirectory">Runs the provider in agent mode with this working directory (else chat mode).</param>
    public static CodexHarness Create(string? codexPath, IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? requestTimeout = null, int? maxLineBytes = null, string? forceMode = null, int maxLiveSessions = 256, string? agentDirectory = null)
    {
        var dataDir = TempDir.Create("codex");
        var config = new JsonObject { ["codexPath"] = codexPath ?? "/nonexistent/codex" };
        if (agentDirectory is not null)
        {
            config["mode"] = "agent";
            config["agentWorkingDirectory"] = agentDirectory;
        }
        File.WriteAllText(Path.Combine(dataDir, "config.json"), config.ToJsonString());
        var settings = ServerSettings.Load(CommandLine.Parse(["--port", "0", "--data-dir", dataDir]), _ => null);
        var logs = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var children = new ChildProcesses(loggerFactory.CreateLogger<ChildProcesses>());
        var probe = new CliProbe(settings, children, loggerFactory.CreateLogger<CliProbe>());
        var catalog = new ModelCatalog(settings);
        var options = new CodexProviderOptions
        {
            Environment = environment,
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30),
            MaxLineBytes = maxLineBytes ?? JsonRpcLineClient.DefaultMaxLineBytes,
            ForceMode = forceMode,
            MaxLiveSessions = maxLiveSessions,
        };
        var provider = new CodexProvider(settings, probe, children, catalog, loggerFactory.CreateLogger<CodexProvider>(), options);
        return new CodexHarness(dataDir, settings, children, probe, catalog, provider, logs, loggerFactory);
    }

    /// <summary>A codex stand-in running Fakes/fake-codex.mjs under node.</summary>
    public static string FakeCodexPath()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-codex.mjs");
        return FakeCli.Write("codex", $"exec node '{script}' \"$@\"\n");
    }

    public static ModelEntry Model(string id = "gpt-5.2-codex") => new(id, ProviderKind.Codex, 0, id);

    public static TurnRequest Ask(string text, string? sessionId = null, string? instructions = null) =>
        new(Model(), instructions, [TurnMessage.User(text)], SessionId: sessionId);

    public async Task<List<TurnEvent>> RunAsync(TurnRequest request, CancellationToken cancellationToken = default)
    {
        var events = new List<TurnEvent>();
        await foreach (var e in Provider.RunAsync(request, cancellationToken))
        {
            events.Add(e);
        }
        return events;
    }

    public static bool ProcessExists(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync();
        Children.EndAll();
        _loggerFactory.Dispose();
        TempDir.Delete(DataDir);
    }
}

public static class TurnEvents
{
    public static string Text(this IEnumerable<TurnEvent> events) => string.Concat(events.OfType<TextDelta>().Select(d => d.Text));

    public static TurnEnded Completed(this IReadOnlyList<TurnEvent> events)
    {
        var last = Assert.IsType<TurnEnded>(events[^1]);
        Assert.Null(last.Error);
        return last;
    }

    public static ProviderError Failed(this IReadOnlyList<TurnEvent> events)
    {
        Assert.NotEmpty(events);
        return Assert.IsType<ProviderError>(Assert.IsType<TurnEnded>(events[^1]).Error);
    }

    /// <summary>The error of a turn's failed end (the event must be one).</summary>
    public static ProviderError Failure(TurnEvent e)
    {
        var ended = Assert.IsType<TurnEnded>(e);
        Assert.Equal(TurnEndReason.Failed, ended.Reason);
        return Assert.IsType<ProviderError>(ended.Error);
    }

    /// <summary>The usage the turn reported: on its end, or the last report before it (codex's app-server reports it apart).</summary>
    public static TokenUsage? Usage(this IReadOnlyList<TurnEvent> events) =>
        (events.Count > 0 ? events[^1] as TurnEnded : null)?.Usage ?? events.OfType<UsageReport>().LastOrDefault()?.Usage;
}
