using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Providers.Codex;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Support;

/// <summary>
/// A model server on 127.0.0.1 speaking the OpenAI Responses API as the real codex CLI expects it
/// (POST /v1/responses with SSE), so the real CLI runs end to end with no account and no network.
/// A user message with <see cref="ToolScript"/> markers makes it call the request's tools, round by round.
/// </summary>
public sealed class MockResponsesUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<JsonNode> _requests = new();

    private MockResponsesUpstream(WebApplication app) => _app = app;

    /// <summary>The text chunks each answer streams, one output_text.delta each.</summary>
    public string[] Chunks { get; set; } = ["Hello", " from", " the", " mock."];

    public TokenCounts Usage { get; set; } = new(21, 6, 4, 2);

    /// <summary>When set, POST /v1/responses answers with this HTTP status and an error body.</summary>
    public int? FailWithStatus { get; set; }

    /// <summary>Extra response headers, e.g. the ChatGPT backend's `x-codex-primary-used-percent` family that codex turns into `account/rateLimits/updated`.</summary>
    public IReadOnlyDictionary<string, string>? ResponseHeaders { get; set; }

    /// <summary>The body of that error answer; null sends an OpenAI error saying "mock says STATUS".</summary>
    public string? FailBody { get; set; }

    /// <summary>
    /// As the ChatGPT Codex backend has at times: a request whose base prompt is not Codex's own gets
    /// 400 {"detail":"Instructions are not valid"}. Codex 0.169 sends its base prompt as the first developer
    /// message of `input` (older versions as `instructions`); its own opens with <see cref="CodexPromptOpening"/>.
    /// </summary>
    public bool RequireCodexInstructions { get; set; }

    public const string CodexPromptOpening = "You are a coding agent running in the Codex CLI";

    /// <summary>Pause before each delta.</summary>
    public TimeSpan DeltaDelay { get; set; } = TimeSpan.Zero;

    public IReadOnlyList<JsonNode> Requests => _requests.ToArray();

    /// <summary>Completed when a streaming answer's connection was closed by the client before the end.</summary>
    public TaskCompletionSource<DateTimeOffset> ClientAborted { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, picks each answer's chunks from its request (overrides <see cref="Chunks"/>).</summary>
    public Func<JsonNode, string[]>? Reply { get; set; }

    /// <summary>When set and it gives chunks for a request, a reasoning item with that summary, streamed, comes before the answer.</summary>
    public Func<JsonNode, string[]?>? Reasoning { get; set; }

    /// <summary>Set when the first delta of a stream has been written.</summary>
    public TaskCompletionSource<DateTimeOffset> FirstDeltaSent { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string BaseUrl => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1";

    public sealed record TokenCounts(long Input, long Output, long Cached, long Reasoning);

    /// <param name="tls">Serves HTTPS with this certificate (and its private key) instead of HTTP.</param>
    public static async Task<MockResponsesUpstream> StartAsync(X509Certificate2? tls = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (tls is not null)
            {
                listen.UseHttps(tls);
            }
        }));
        var app = builder.Build();
        var mock = new MockResponsesUpstream(app);
        app.MapGet("/v1/models", () => Results.Text("""{"object":"list","data":[],"models":[]}""", "application/json"));
        app.MapPost("/v1/responses", mock.RespondAsync);
        await app.StartAsync();
        return mock;
    }

    /// <summary>A CODEX_HOME for the real CLI that talks to this mock, and the environment to run it with.</summary>
    /// <param name="maxRetries">Bounds codex's own upstream retries (by default ~5 stream and 4 request retries, ~27 s on a 500).</param>
    /// <param name="extraToml">More of config.toml, after the provider's table (e.g. an [mcp_servers.NAME] table).</param>
    public IReadOnlyDictionary<string, string?> CodexEnvironment(int? maxRetries = null, string? extraToml = null)
    {
        var home = TempDir.Create("codex-home");
        File.WriteAllText(Path.Combine(home, "config.toml"), $"""
            model_provider = "mock"
            [model_providers.mock]
            name = "mock"
            base_url = "{BaseUrl}"
            wire_api = "responses"
            env_key = "MOCK_KEY"
            {(maxRetries is { } n ? $"stream_max_retries = {n}\nrequest_max_retries = {n}" : "")}
            {extraToml}
            """);
        return new Dictionary<string, string?> { ["CODEX_HOME"] = home, ["MOCK_KEY"] = "x" };
    }

    /// <summary>The request's base prompt: `instructions`, else the text of the first developer message.</summary>
    public static string BasePrompt(JsonNode request)
    {
        if (request["instructions"]?.GetValue<string>() is { Length: > 0 } instructions)
        {
            return instructions;
        }
        var first = request["input"]?.AsArray().FirstOrDefault(i => (string?)i?["role"] == "developer");
        return first?["content"]?.AsArray().Select(c => (string?)c?["text"]).FirstOrDefault(t => t is not null) ?? "";
    }

    public void ResetFirstDelta() => FirstDeltaSent = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ResetClientAborted() => ClientAborted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task RespondAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        _requests.Enqueue(body!);
        var response = context.Response;
        foreach (var (name, value) in ResponseHeaders ?? new Dictionary<string, string>())
        {
            response.Headers[name] = value;
        }
        if (RequireCodexInstructions && !BasePrompt(body!).StartsWith(CodexPromptOpening, StringComparison.Ordinal))
        {
            response.StatusCode = 400;
            response.ContentType = "application/json";
            await response.WriteAsync("{\"detail\":\"Instructions are not valid\"}");
            return;
        }
        if (FailWithStatus is { } status)
        {
            response.StatusCode = status;
            response.ContentType = "application/json";
            await response.WriteAsync(FailBody ?? "{\"error\":{\"message\":\"mock says " + status + "\",\"type\":\"invalid_request_error\",\"code\":\"mock_" + status + "\"}}");
            return;
        }

        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var aborted = context.RequestAborted;
        var id = "resp_" + Guid.NewGuid().ToString("N");
        var script = ToolTurn.Of(body!);
        if (script?.Calls is { } calls)
        {
            await SendToolCallsAsync(response, id, calls, aborted);
            return;
        }
        var chunks = script?.Answer is { } answer ? new[] { answer } : Reply?.Invoke(body!) ?? Chunks;
        var text = string.Concat(chunks);
        var reasoning = Reasoning?.Invoke(body!);
        var messageIndex = reasoning is null ? 0 : 1;
        try
        {
            await SendAsync(response, "response.created", w => WriteResponse(w, id, "in_progress", null, false), aborted);
            if (reasoning is not null)
            {
                await SendReasoningAsync(response, reasoning, aborted);
            }
            await SendAsync(response, "response.output_item.added", w =>
            {
                w.WriteNumber("output_index", messageIndex);
                w.WritePropertyName("item");
                WriteMessage(w, "in_progress", null);
            }, aborted);
            var first = true;
            foreach (var chunk in chunks)
            {
                if (DeltaDelay > TimeSpan.Zero)
                {
                    await Task.Delay(DeltaDelay, aborted);
                }
                await SendAsync(response, "response.output_text.delta", w =>
                {
                    w.WriteString("item_id", "msg_1");
                    w.WriteNumber("output_index", messageIndex);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("delta", chunk);
                }, aborted);
                if (first)
                {
                    FirstDeltaSent.TrySetResult(DateTimeOffset.UtcNow);
                    first = false;
                }
            }
            await SendAsync(response, "response.output_item.done", w =>
            {
                w.WriteNumber("output_index", messageIndex);
                w.WritePropertyName("item");
                WriteMessage(w, "completed", text);
            }, aborted);
            await SendAsync(response, "response.completed", w => WriteResponse(w, id, "completed", text, true), aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            ClientAborted.TrySetResult(DateTimeOffset.UtcNow);
        }
        catch (IOException)
        {
            ClientAborted.TrySetResult(DateTimeOffset.UtcNow);
        }
    }

    /// <summary>A reasoning item at output index 0 with one summary part, streamed as the Responses API does.</summary>
    private static async Task SendReasoningAsync(HttpResponse response, string[] summary, CancellationToken aborted)
    {
        const string ItemId = "rs_1";
        var text = string.Concat(summary);
        void Item(Utf8JsonWriter w, string? summaryText)
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            w.WriteStartObject();
            w.WriteString("type", "reasoning");
            w.WriteString("id", ItemId);
            w.WritePropertyName("summary");
            w.WriteStartArray();
            if (summaryText is not null)
            {
                w.WriteStartObject();
                w.WriteString("type", "summary_text");
                w.WriteString("text", summaryText);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        void Part(Utf8JsonWriter w, string partText)
        {
            w.WriteString("item_id", ItemId);
            w.WriteNumber("output_index", 0);
            w.WriteNumber("summary_index", 0);
            w.WritePropertyName("part");
            w.WriteStartObject();
            w.WriteString("type", "summary_text");
            w.WriteString("text", partText);
            w.WriteEndObject();
        }
        await SendAsync(response, "response.output_item.added", w => Item(w, null), aborted);
        await SendAsync(response, "response.reasoning_summary_part.added", w => Part(w, ""), aborted);
        foreach (var chunk in summary)
        {
            await SendAsync(response, "response.reasoning_summary_text.delta", w =>
            {
                w.WriteString("item_id", ItemId);
                w.WriteNumber("output_index", 0);
                w.WriteNumber("summary_index", 0);
                w.WriteString("delta", chunk);
            }, aborted);
        }
        await SendAsync(response, "response.reasoning_summary_text.done", w =>
        {
            w.WriteString("item_id", ItemId);
            w.WriteNumber("output_index", 0);
            w.WriteNumber("summary_index", 0);
            w.WriteString("text", text);
        }, aborted);
        await SendAsync(response, "response.reasoning_summary_part.done", w => Part(w, text), aborted);
        await SendAsync(response, "response.output_item.done", w => Item(w, text), aborted);
    }

    /// <summary>One model step of function calls, streamed as the Responses API does.</summary>
    private async Task SendToolCallsAsync(HttpResponse response, string id, IReadOnlyList<ToolScript.Call> calls, CancellationToken aborted)
    {
        var items = calls.Select(c => new FunctionCall("fc_" + Guid.NewGuid().ToString("N")[..12], "call_" + Guid.NewGuid().ToString("N")[..16],
            c.Name, c.Arguments.ToJsonString())).ToList();
        try
        {
            await SendAsync(response, "response.created", w => WriteResponse(w, id, "in_progress", null, false), aborted);
            for (var i = 0; i < items.Count; i++)
            {
                var item = items[i];
                var index = i;
                await SendAsync(response, "response.output_item.added", w =>
                {
                    w.WriteNumber("output_index", index);
                    w.WritePropertyName("item");
                    item.Write(w, "in_progress", "");
                }, aborted);
                await SendAsync(response, "response.function_call_arguments.delta", w =>
                {
                    w.WriteString("item_id", item.Id);
                    w.WriteNumber("output_index", index);
                    w.WriteString("delta", item.Arguments);
                }, aborted);
                await SendAsync(response, "response.function_call_arguments.done", w =>
                {
                    w.WriteString("item_id", item.Id);
                    w.WriteNumber("output_index", index);
                    w.WriteString("arguments", item.Arguments);
                }, aborted);
                await SendAsync(response, "response.output_item.done", w =>
                {
                    w.WriteNumber("output_index", index);
                    w.WritePropertyName("item");
                    item.Write(w, "completed", item.Arguments);
                }, aborted);
                if (DeltaDelay > TimeSpan.Zero)
                {
                    await Task.Delay(DeltaDelay, aborted);
                }
            }
            await SendAsync(response, "response.completed", w => WriteResponse(w, id, "completed", null, true, items), aborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            ClientAborted.TrySetResult(DateTimeOffset.UtcNow);
        }
    }

    private sealed record FunctionCall(string Id, string CallId, string Name, string Arguments)
    {
        public void Write(Utf8JsonWriter w, string status, string arguments)
        {
            w.WriteStartObject();
            w.WriteString("type", "function_call");
            w.WriteString("id", Id);
            w.WriteString("call_id", CallId);
            w.WriteString("name", Name);
            w.WriteString("arguments", arguments);
            w.WriteString("status", status);
            w.WriteEndObject();
        }
    }

    /// <summary>
    /// What a request with <see cref="ToolScript"/> markers in its last user message gets: the next round's
    /// calls (k function-call steps since that message: round k), or once they are used up the results.
    /// Null when there are no markers.
    /// </summary>
    private sealed record ToolTurn(IReadOnlyList<ToolScript.Call>? Calls, string? Answer)
    {
        public static ToolTurn? Of(JsonNode body)
        {
            var input = body["input"]?.AsArray() ?? [];
            var userAt = -1;
            for (var i = 0; i < input.Count; i++)
            {
                if ((string?)input[i]?["role"] == "user" && ((string?)input[i]?["type"] ?? "message") == "message")
                {
                    userAt = i;
                }
            }
            if (userAt < 0)
            {
                return null;
            }
            var userText = string.Concat(input[userAt]!["content"]?.AsArray().Select(c => (string?)c?["text"]) ?? []);
            var rounds = ToolScript.Parse(userText);
            if (rounds.Count == 0)
            {
                return null;
            }
            var after = input.Skip(userAt + 1).Select(i => (string?)i?["type"]).ToList();
            // Consecutive function_call items are one model step.
            var steps = after.Where((type, i) => type == "function_call" && (i == 0 || after[i - 1] != "function_call")).Count();
            var declared = (body["tools"]?.AsArray() ?? []).Select(t => (string?)t?["name"]).OfType<string>().ToHashSet(StringComparer.Ordinal);
            if (steps < rounds.Count && rounds[steps].Where(c => declared.Contains(c.Name)).ToList() is { Count: > 0 } calls)
            {
                return new ToolTurn(calls, null);
            }
            var results = input.Skip(userAt + 1).Where(i => (string?)i?["type"] == "function_call_output").Select(i => OutputOf(i!["output"]))
                // Codex tells the model a failure only in the text (CodexHistory.FailedPrefix).
                .Select(o => o.StartsWith(CodexHistory.FailedPrefix, StringComparison.Ordinal) ? (o[CodexHistory.FailedPrefix.Length..], true) : (o, false));
            return new ToolTurn(null, ToolScript.FinalAnswer(results));
        }

        private static string OutputOf(JsonNode? output) => output switch
        {
            JsonValue v => (string?)v ?? "",
            JsonArray parts => string.Concat(parts.Select(p => (string?)p?["text"])),
            _ => "",
        };
    }

    private static async Task SendAsync(HttpResponse response, string type, Action<Utf8JsonWriter> members, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            members(w);
            w.WriteEndObject();
        }
        var frame = $"event: {type}\ndata: {Encoding.UTF8.GetString(buffer.ToArray())}\n\n";
        await response.WriteAsync(frame, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private static void WriteMessage(Utf8JsonWriter w, string status, string? text)
    {
        w.WriteStartObject();
        w.WriteString("type", "message");
        w.WriteString("id", "msg_1");
        w.WriteString("role", "assistant");
        w.WriteString("status", status);
        w.WritePropertyName("content");
        w.WriteStartArray();
        if (text is not null)
        {
            w.WriteStartObject();
            w.WriteString("type", "output_text");
            w.WriteString("text", text);
            w.WritePropertyName("annotations");
            w.WriteStartArray();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private void WriteResponse(Utf8JsonWriter w, string id, string status, string? text, bool withUsage, IReadOnlyList<FunctionCall>? calls = null)
    {
        w.WritePropertyName("response");
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "response");
        w.WriteString("status", status);
        w.WritePropertyName("output");
        w.WriteStartArray();
        if (text is not null)
        {
            WriteMessage(w, "completed", text);
        }
        foreach (var call in calls ?? [])
        {
            call.Write(w, "completed", call.Arguments);
        }
        w.WriteEndArray();
        if (withUsage)
        {
            w.WritePropertyName("usage");
            w.WriteStartObject();
            w.WriteNumber("input_tokens", Usage.Input);
            w.WritePropertyName("input_tokens_details");
            w.WriteStartObject();
            w.WriteNumber("cached_tokens", Usage.Cached);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", Usage.Output);
            w.WritePropertyName("output_tokens_details");
            w.WriteStartObject();
            w.WriteNumber("reasoning_tokens", Usage.Reasoning);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", Usage.Input + Usage.Output);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
