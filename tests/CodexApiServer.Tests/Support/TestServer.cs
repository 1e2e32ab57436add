using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Support;

/// <summary>The whole server in this process on 127.0.0.1 and a free port, with its own data folder.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(WebApplication app, ServerSettings settings, string dataDir)
    {
        App = app;
        Settings = settings;
        DataDir = dataDir;
        // A response disposed before its end closes the connection at once, as a client that leaves does;
        // by default HttpClient would first read on for up to 2 s to keep the connection.
        var handler = new SocketsHttpHandler { ResponseDrainTimeout = TimeSpan.Zero };
        Client = new HttpClient(handler) { BaseAddress = new Uri(app.Address()), Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    public ServerSettings Settings { get; }
    public string DataDir { get; }
    public HttpClient Client { get; }
    public Uri BaseAddress => Client.BaseAddress!;

    /// <param name="configJson">config.json to start from (camelCase keys), or null for defaults.</param>
    /// <param name="beforeStart">extra routes or services for a test, added after the app is built.</param>
    public static async Task<TestServer> StartAsync(string? configJson = null, IDictionary<string, string?>? environment = null, Action<WebApplication>? beforeStart = null, ILoggerProvider? logging = null, Action<IServiceCollection>? configureServices = null, bool firstRun = false)
    {
        var dataDir = TempDir.Create("server");
        if (configJson is not null && !firstRun)
        {
            await File.WriteAllTextAsync(Path.Combine(dataDir, "config.json"), configJson);
        }
        var settings = ServerSettings.Load(
            CommandLine.Parse(["--port", "0", "--data-dir", dataDir]),
            name => environment is not null && environment.TryGetValue(name, out var v) ? v : null);
        if (firstRun && configJson is not null)
        {
            // As if the user had made these settings in the first minutes after the first start.
            var config = System.Text.Json.JsonSerializer.Deserialize(configJson, ConfigJsonContext.Default.ServerConfig)!;
            config.MasterKey = settings.Config.MasterKey;
            settings.Apply(config);
        }
        if (configJson?.Contains("\"warmOnStart\"", StringComparison.Ordinal) != true)
        {
            // Warm at start is tested on its own: elsewhere the first request starts what it needs, as before.
            settings.Config.WarmOnStart = false;
        }
        var app = ServerApp.Build(settings, logging, configureServices);
        beforeStart?.Invoke(app);
        await app.StartListeningAsync(settings);
        return new TestServer(app, settings, dataDir);
    }

    public async Task<(HttpResponseMessage Response, JsonNode? Body)> SendJsonAsync(HttpMethod method, string path, string? json = null, string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        }
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }
        var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        TempDir.Delete(DataDir);
    }
}

public static class ErrorAssert
{
    /// <summary>
    /// The error a client of <paramref name="path"/> reads: Anthropic's shape under /v1/messages (with the
    /// type its SDK maps <paramref name="code"/>'s status to), OpenAI's elsewhere.
    /// </summary>
    public static void IsErrorOf(string path, JsonNode? body, string code)
    {
        if (!path.StartsWith("/v1/messages", StringComparison.Ordinal))
        {
            IsOpenAIError(body, code);
            return;
        }
        Assert.NotNull(body);
        Assert.Equal("error", body!["type"]?.GetValue<string>());
        Assert.Equal(code switch
        {
            "missing_api_key" or "invalid_api_key" => "authentication_error",
            "insufficient_scope" => "permission_error",
            "rate_limit_exceeded" or "tokens_per_day_exceeded" => "rate_limit_error",
            _ => "invalid_request_error",
        }, body["error"]?["type"]?.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(body["error"]?["message"]?.GetValue<string>()));
    }

    /// <summary>The body is an OpenAI error with all four keys; returns the error object.</summary>
    public static JsonObject IsOpenAIError(JsonNode? body, string? code = null)
    {
        Assert.NotNull(body);
        var error = Assert.IsType<JsonObject>(body!["error"]);
        foreach (var key in new[] { "message", "type", "param", "code" })
        {
            Assert.True(error.ContainsKey(key), $"error lacks '{key}': {body.ToJsonString()}");
        }
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        if (code is not null)
        {
            Assert.Equal(code, error["code"]?.GetValue<string>());
        }
        return error;
    }

    public static string Kind(this JsonNode? node) => node?.GetValueKind() switch
    {
        JsonValueKind.Number => "number",
        JsonValueKind.String => "string",
        var k => k?.ToString() ?? "missing",
    };
}
