using System.Net;
using CodexApiServer.Children;
using CodexApiServer.Endpoints;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using CodexApiServer.Tunnel;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CodexApiServer.Hosting;

/// <summary>Builds the whole server from settings: services, request pipeline, endpoint groups.</summary>
public static class ServerApp
{
    /// <param name="configureServices">Runs after the app's own registrations, so tests can replace or add services (e.g. ITurnProvider).</param>
    public static WebApplication Build(ServerSettings settings, ILoggerProvider? extraLogging = null, Action<IServiceCollection>? configureServices = null)
    {
        // The empty builder, not the slim one: the server reads its settings itself (ServerSettings), so the
        // default configuration sources (appsettings*.json watched for changes in the data dir, where SQLite
        // writes all the time; environment variables; command line), host filtering and forwarded headers
        // were start-up work, a watcher thread and code in the binary for nothing.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = settings.DataDir,
        });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();

        var logBuffer = new LogBuffer();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logBuffer);
        builder.Services.AddSingleton(logBuffer);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        if (extraLogging is not null)
        {
            builder.Logging.AddProvider(extraLogging);
        }
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware", LogLevel.None);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.Config.MaxRequestBodyBytes;
            kestrel.Listen(ParseAddress(settings.Host), settings.Port, listen => listen.UseKestrelErrorBodies());
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

        builder.Services.AddSingleton(settings);
        builder.Services.AddStorage();
        builder.Services.AddProviders();
        builder.Services.AddTunnel();
        builder.Services.AddOpenAIApi();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseRequestPipeline();
        app.MapHealthApi();
        app.MapModelsApi();
        app.MapApiKeysApi();
        app.MapChatCompletionsApi();
        app.MapResponsesApi();
        app.MapMessagesApi();
        app.MapAdminApi();
        app.MapAdminTunnelApi();
        app.MapAdminPages();
        app.MapMetricsApi();
        app.MapApiDocs();

        var children = app.Services.GetRequiredService<ChildProcesses>();
        app.Lifetime.ApplicationStopped.Register(children.EndAll);
        // Started once listening, so /health answers while the CLIs load.
        app.Lifetime.ApplicationStarted.Register(() => app.Services.GetRequiredService<WarmStart>().Start(app.Lifetime.ApplicationStopping));
        return app;
    }

    /// <summary>The first address the server listens on, once started.</summary>
    public static string Address(this WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static IPAddress ParseAddress(string host) => ServerConfig.ListenAddress(host)
        ?? throw new StartupException($"host \"{host}\" is not an IP address; use 127.0.0.1, 0.0.0.0, ::1 or :: (or localhost)");

    private static IServiceCollection AddStorage(this IServiceCollection services)
    {
        services.AddSingleton(sp =>
        {
            var database = new Database(sp.GetRequiredService<ServerSettings>());
            database.Migrate();
            return database;
        });
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<UsageLog>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<AllowedHosts>();
        services.AddSingleton<AccessControl>();
        return services;
    }

    private static IServiceCollection AddOpenAIApi(this IServiceCollection services)
    {
        services.AddSingleton<StreamingOptions>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton(new IdleTrim(IdleTrim.DefaultPeriod));
        services.AddHostedService(sp => sp.GetRequiredService<IdleTrim>());
        services.AddSingleton<ProviderRouter>();
        services.AddSingleton<TurnDriver>();
        services.AddSingleton<HeldTurns>();
        services.AddSingleton<ConversationSessions>();
        services.AddSingleton(sp =>
        {
            var store = new ResponseStore(sp.GetRequiredService<Database>());
            store.FailUnfinished();
            return store;
        });
        services.AddSingleton<ResponseRegistry>();
        return services;
    }

    private static IServiceCollection AddProviders(this IServiceCollection services)
    {
        services.AddSingleton<ChildProcesses>();
        services.AddSingleton<MemoryBudget>();
        services.AddSingleton<UsageWindows>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<CliProbe>();
        services.AddHostedService(sp => sp.GetRequiredService<CliProbe>());
        services.AddSingleton<CodexProvider>();
        services.AddSingleton<ITurnProvider>(sp => sp.GetRequiredService<CodexProvider>());
        services.AddSingleton<ClaudeProvider>();
        services.AddSingleton<ITurnProvider>(sp => sp.GetRequiredService<ClaudeProvider>());
        services.AddSingleton<WarmStart>();
        return services;
    }
}
