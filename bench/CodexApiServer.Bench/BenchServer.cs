using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Endpoints;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;

namespace CodexApiServer.Bench;

/// <summary>The whole server in this process on 127.0.0.1, its providers pointed at the mocks.</summary>
public sealed class BenchServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;
    private readonly string _dataDir;

    private BenchServer(WebApplication app, string dataDir)
    {
        _app = app;
        _dataDir = dataDir;
        _http = new HttpClient { BaseAddress = new Uri(app.Address()), Timeout = TimeSpan.FromSeconds(120) };
    }

    public static async Task<BenchServer> StartAsync(string codex, string claude, CodexProviderOptions codexOptions, ClaudeProviderOptions claudeOptions)
    {
        var dataDir = Tests.Support.TempDir.Create("server");
        var config = new JsonObject { ["codexPath"] = codex, ["claudePath"] = claude };
        await File.WriteAllTextAsync(Path.Combine(dataDir, "config.json"), config.ToJsonString());
        var settings = ServerSettings.Load(CommandLine.Parse(["--port", "0", "--data-dir", dataDir]), _ => null);
        var app = ServerApp.Build(settings, null, services =>
        {
            services.AddSingleton(codexOptions);
            services.AddSingleton(claudeOptions);
            // Only warnings and errors on the console, so the bench output stays readable.
            services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(null, null, LogLevel.Warning, null)));
        });
        await app.StartListeningAsync(settings);
        return new BenchServer(app, dataDir);
    }

    private ITurnProvider Provider(ProviderKind kind) => _app.Services.GetServices<ITurnProvider>().Last(p => p.Kind == kind);

    /// <summary>
    /// Drops the live session that continues this conversation and ends it, as if the server had lost
    /// it: the next request with this history starts a fresh session seeded with the whole history.
    /// </summary>
    public async Task ForgetSessionAsync(string model, ProviderKind kind, IEnumerable<(string Role, string Text)> history)
    {
        var messages = history.Select(m => new TurnMessage(m.Role, [new TextPart(m.Text)]));
        var key = TurnInput.ConversationKey(model, null, messages);
        var provider = Provider(kind);
        if (_app.Services.GetRequiredService<ConversationSessions>().Take(key, provider) is { } sessionId)
        {
            await provider.EndSessionAsync(sessionId);
        }
    }

    /// <summary>
    /// Drops and ends the live session that continues the conversation of the chat request
    /// <paramref name="body"/> answered with <paramref name="answer"/>, whatever its messages hold (tool
    /// calls and results too): the key is computed from the request as the endpoint parses it.
    /// </summary>
    /// <returns>False when there was no such session.</returns>
    public async Task<bool> ForgetSessionAsync(JsonObject body, ProviderKind kind, string answer)
    {
        var turn = Parse(body);
        var key = TurnInput.ConversationKey(turn.Model, turn.Instructions, turn.Conversation.Append(new TurnMessage("assistant", [new TextPart(answer)])));
        var provider = Provider(kind);
        if (_app.Services.GetRequiredService<ConversationSessions>().Take(key, provider) is not { } sessionId)
        {
            return false;
        }
        await provider.EndSessionAsync(sessionId);
        return true;
    }

    /// <summary>
    /// The TurnRequest the chat endpoint makes of <paramref name="body"/> for a new conversation (its own
    /// parser, so tools and tool_choice are read as the server reads them), for the direct drivers.
    /// </summary>
    public static TurnRequest TurnRequestOf(JsonObject body, ProviderKind kind)
    {
        var turn = Parse(body);
        return new TurnRequest(new ModelEntry(turn.Model, kind, 0, turn.Model), turn.Instructions, turn.Conversation, turn.ReasoningEffort, turn.OutputSchema,
            Tools: turn.Tools, ToolChoice: turn.ToolChoice, ParallelToolCalls: turn.ParallelToolCalls);
    }

    private static ChatTurn Parse(JsonObject body) =>
        ChatCompletionsParser.Parse(JsonSerializer.Deserialize(body.ToJsonString(), ApiJsonContext.Wire.ChatCompletionRequest)!, "");

    /// <summary>POST /v1/chat/completions without streaming: the whole completion.</summary>
    public async Task<JsonNode> ChatJsonAsync(JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? JsonNode.Parse(text)! : throw new InvalidOperationException($"chat completion failed: {(int)response.StatusCode} {text}");
    }

    /// <summary>POST /v1/chat/completions with stream:true; times the first content chunk and [DONE].</summary>
    public Task<(double FirstMs, double TotalMs, string Text)> ChatAsync(string model, IEnumerable<(string Role, string Text)> history)
    {
        var messages = new JsonArray();
        foreach (var (role, text) in history)
        {
            messages.Add(new JsonObject { ["role"] = role, ["content"] = text });
        }
        return ChatStreamAsync(new JsonObject { ["model"] = model, ["stream"] = true, ["messages"] = messages });
    }

    /// <summary>POST /v1/chat/completions of <paramref name="request"/> (stream:true); times the first content chunk and [DONE].</summary>
    public async Task<(double FirstMs, double TotalMs, string Text)> ChatStreamAsync(JsonObject request)
    {
        var (first, total, text, _) = await Chat.StreamAsync(_http, request);
        return (first, total, text);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Tests.Support.TempDir.Delete(_dataDir);
    }
}
