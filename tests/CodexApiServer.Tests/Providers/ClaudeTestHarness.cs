using System.Diagnostics;
using System.Text.Json;
using CodexApiServer.Children;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>A ClaudeProvider driven directly, with its own data folder, children and log.</summary>
public sealed class ClaudeTestHarness : IAsyncDisposable
{
    private ClaudeTestHarness(string claudePath, ClaudeProviderOptions options, string mode, string? agentDir, int maxSpares)
    {
        DataDir = TempDir.Create("claude-provider");
        var config = new ServerConfig { ClaudePath = claudePath, Mode = mode, AgentWorkingDirectory = agentDir, MaxSparesPerModel = maxSpares };
        Settings = new ServerSettings
        {
            DataDir = DataDir,
            ConfigPath = Path.Combine(DataDir, "config.json"),
            Config = config,
            Host = "127.0.0.1",
            Port = 0,
        };
        var factory = LoggerFactory.Create(b => b.AddProvider(Log).SetMinimumLevel(LogLevel.Debug));
        Children = new ChildProcesses(factory.CreateLogger<ChildProcesses>());
        var probe = new CliProbe(Settings, Children, NullLogger<CliProbe>.Instance);
        Provider = new ClaudeProvider(Settings, probe, Children, factory.CreateLogger<ClaudeProvider>(), options);
    }

    public string DataDir { get; }
    public ServerSettings Settings { get; }
    public ChildProcesses Children { get; }
    public ClaudeProvider Provider { get; }

    /// <summary>
    /// The claude started here that is neither serving one of <paramref name="conversations"/> nor one of
    /// <paramref name="known"/>: a spare (it may have started before a conversation's own process).
    /// </summary>
    public int SpareBesides(IEnumerable<TurnResult> conversations, params int[] known)
    {
        var serving = conversations.Select(c => Provider.PidOf(c.Completed!.SessionId!)).ToList();
        return Assert.Single(Provider.StartedPids, p => !serving.Contains(p) && !known.Contains(p));
    }
    public CapturingLoggerProvider Log { get; } = new();

    /// <summary>Where fake-claude records each start (pid.json) and its sessions.</summary>
    public string? FakeLog { get; private init; }

    public static ModelEntry Model(string cliModel = "claude-sonnet-4-5") => new(cliModel, ProviderKind.Claude, 0, cliModel);

    public static ClaudeTestHarness WithFake(string? mode = null, int maxSpares = 2, TimeSpan? idleTimeout = null, string configMode = "chat", string? agentDir = null)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fakes", "fake-claude.mjs");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var fakeLog = TempDir.Create("fake-claude-log");
        var env = new Dictionary<string, string?> { ["FAKE_CLAUDE_LOG"] = fakeLog, ["FAKE_CLAUDE_MODE"] = mode };
        var options = new ClaudeProviderOptions { Environment = env, IdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5) };
        return new ClaudeTestHarness(script, options, configMode, agentDir, maxSpares) { FakeLog = fakeLog };
    }

    /// <summary>The fresh HOME the real claude runs with.</summary>
    public string? ClaudeHome { get; private init; }

    public static ClaudeTestHarness WithRealClaude(MockAnthropicUpstream upstream, int maxSpares = 2, int maxRetries = 1, TimeSpan? idleTimeout = null, string? apiKey = "x")
    {
        var home = TempDir.Create("claude-home");
        var env = upstream.ClaudeEnvironment(home, maxRetries, apiKey);
        var options = new ClaudeProviderOptions { Environment = env, IdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5) };
        return new ClaudeTestHarness(RealClis.Claude, options, "chat", null, maxSpares) { ClaudeHome = home };
    }

    public static TurnRequest Request(string text, string? sessionId = null, string? instructions = "Be brief.") =>
        new(Model(), instructions, [TurnMessage.User(text)], SessionId: sessionId);

    public Task<TurnResult> RunAsync(TurnRequest request, CancellationToken cancellationToken = default) => RunAsync(request, null, cancellationToken);

    /// <param name="onEvent">Sees each event as it arrives, so a test can wait for a point inside the turn.</param>
    public async Task<TurnResult> RunAsync(TurnRequest request, Action<TurnEvent>? onEvent, CancellationToken cancellationToken = default)
    {
        var result = new TurnResult();
        var clock = Stopwatch.StartNew();
        await foreach (var ev in Provider.RunAsync(request, cancellationToken))
        {
            if (result.FirstTextAfter is null && ev is TextDelta)
            {
                result.FirstTextAfter = clock.Elapsed;
            }
            result.Events.Add(ev);
            onEvent?.Invoke(ev);
        }
        result.Elapsed = clock.Elapsed;
        return result;
    }

    /// <summary>The argv of each start fake-claude recorded, by PID.</summary>
    public Dictionary<int, string[]> FakeStarts()
    {
        var starts = new Dictionary<int, string[]>();
        foreach (var file in Directory.GetFiles(FakeLog!, "*.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            starts[doc.RootElement.GetProperty("pid").GetInt32()] =
                doc.RootElement.GetProperty("argv").EnumerateArray().Select(e => e.GetString()!).ToArray();
        }
        return starts;
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
        {
            return false;
        }
    }

    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (condition())
            {
                return true;
            }
            await Task.Delay(20);
        }
        return condition();
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync();
        Children.Dispose();
        TempDir.Delete(DataDir);
        if (FakeLog is not null)
        {
            TempDir.Delete(FakeLog);
        }
        if (ClaudeHome is not null)
        {
            TempDir.Delete(ClaudeHome);
        }
    }
}

public sealed class TurnResult
{
    public List<TurnEvent> Events { get; } = [];
    public TimeSpan? FirstTextAfter { get; set; }
    public TimeSpan Elapsed { get; set; }

    public string Text => string.Concat(Events.OfType<TextDelta>().Select(d => d.Text));
    public int TextDeltaCount => Events.OfType<TextDelta>().Count();
    public TurnEnded? Completed => Events.LastOrDefault() is TurnEnded { Error: null } ended ? ended : null;
    public ProviderError? Error => (Events.LastOrDefault() as TurnEnded)?.Error;
    public TokenUsage? Usage => Events.Usage();

    public string Describe() => string.Join(" ", Events.Select(e => e.ToString()));
}
