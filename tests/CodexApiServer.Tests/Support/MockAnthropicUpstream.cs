using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CodexApiServer.Tests.Support;

/// <summary>What the mock answers to one POST /v1/messages.</summary>
/// <param name="Status">Non-200 answers with an Anthropic error body.</param>
/// <param name="HangAfter">After this many chunks, wait (until the client goes away).</param>
/// <param name="Thinking">When set, a thinking block with these deltas (and a signature) comes before the text.</param>
public sealed record MockReply(
    IReadOnlyList<string> Chunks,
    int Status = 200,
    TimeSpan ChunkDelay = default,
    int? HangAfter = null,
    long InputTokens = 12,
    long OutputTokens = 7,
    long CacheReadTokens = 3,
    string StopReason = "end_turn",
    string? ToolName = null,
    string? ToolInputJson = null,
    string? ErrorMessage = null,
    IReadOnlyList<MockToolUse>? ToolUses = null,
    IReadOnlyList<string>? Thinking = null)
{
    /// <summary>The tool_use blocks it streams after the text: <see cref="ToolUses"/>, or the one of <see cref="ToolName"/>.</summary>
    public IReadOnlyList<MockToolUse> AllToolUses =>
        ToolUses ?? (ToolName is null ? [] : [new MockToolUse("toolu_mock_1", ToolName, ToolInputJson ?? "{}")]);

    /// <summary>The model calls a tool (after the text chunks, if any), streaming its input as JSON deltas.</summary>
    public static MockReply ToolUse(string name, string inputJson) => new([], StopReason: "tool_use", ToolName: name, ToolInputJson: inputJson);

    public static MockReply Text(params string[] chunks) => new(chunks);

    public static MockReply Error(int status, string? message = null) => new([], status, ErrorMessage: message);
}

/// <summary>One tool_use block of a mock answer.</summary>
/// <param name="Name">The tool's name as the request declared it (for claude, with its mcp__ prefix).</param>
public sealed record MockToolUse(string Id, string Name, string InputJson);

public sealed class RecordedRequest
{
    public required string Path { get; init; }
    public required string Body { get; init; }
    public required int Bytes { get; init; }
    public required TimeSpan ReceivedAt { get; init; }

    /// <summary>When the client closed the connection before the answer ended, or null.</summary>
    public TimeSpan? AbortedAt { get; set; }

    public TimeSpan? CompletedAt { get; set; }

    public JsonNode Json => JsonNode.Parse(Body)!;
}

/// <summary>
/// A stand-in for the Anthropic Messages API on 127.0.0.1, so the real `claude` runs end to end with
/// no account and no network: it streams the SSE a real model server sends and records every request.
/// </summary>
public sealed class MockAnthropicUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private MockAnthropicUpstream(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Only the model calls (streaming /v1/messages), in arrival order.</summary>
    public RecordedRequest[] MessageRequests => Requests.Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal) && !r.Path.Contains("count_tokens", StringComparison.Ordinal)).ToArray();

    /// <summary>Headers on every /v1/messages answer, e.g. a subscription's `anthropic-ratelimit-unified-*`.</summary>
    public IReadOnlyDictionary<string, string>? ResponseHeaders { get; set; }

    public Func<RecordedRequest, MockReply> Reply { get; set; } = _ => MockReply.Text("Hello", " from", " the", " mock.");

    /// <summary>
    /// Anthropic's answer to third-party use of a subscription, worded as users report it
    /// (anthropics/claude-code #45911, #45048 and peers' trackers): a 400 invalid_request_error.
    /// </summary>
    public const string ThirdPartyRefusal = "Third-party apps now draw from your extra usage, not your plan limits. Add more at claude.ai/settings/usage and keep going.";

    /// <summary>
    /// Answer <see cref="ThirdPartyRefusal"/> to every model request whose system prompt is not Claude
    /// Code's own (reports tie the refusal to the system prompt a client sends); false: accept everything.
    /// </summary>
    public bool RefuseThirdParty { get; set; }

    /// <summary>Whether a request's system prompt carries Claude Code's own agent prompt (its identity line, not the SDK's).</summary>
    public static bool HasClaudeCodePrompt(JsonNode? body) =>
        JsonStrings.In(body?["system"]).Any(t => t.Contains("You are Claude Code, Anthropic's official CLI", StringComparison.Ordinal));

    public TimeSpan Now => _clock.Elapsed;

    /// <summary>The environment the real claude runs with against this mock: a fresh HOME, nothing leaving loopback.</summary>
    public Dictionary<string, string?> ClaudeEnvironment(string home, int maxRetries = 1, string? apiKey = "x") =>
        new Dictionary<string, string?>
        {
            ["ANTHROPIC_BASE_URL"] = BaseUrl,
            ["ANTHROPIC_API_KEY"] = apiKey,
            ["ANTHROPIC_AUTH_TOKEN"] = null,
            ["CLAUDE_CODE_OAUTH_TOKEN"] = null,
            ["CLAUDE_CONFIG_DIR"] = null,
            ["HOME"] = home,
            ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
            ["CLAUDE_CODE_MAX_RETRIES"] = maxRetries.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Nothing may leave loopback: no telemetry, error reports, update checks or feedback surveys.
            ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
            ["DISABLE_TELEMETRY"] = "1",
            ["DISABLE_ERROR_REPORTING"] = "1",
            ["DISABLE_AUTOUPDATER"] = "1",
            ["DISABLE_BUG_COMMAND"] = "1",
            ["CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY"] = "1",
            ["HTTPS_PROXY"] = null,
            ["HTTP_PROXY"] = null,
            ["NO_PROXY"] = "127.0.0.1,localhost",
        };

    public static async Task<MockAnthropicUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var mock = new MockAnthropicUpstream(app);
        app.Run(mock.HandleAsync);
        await app.StartAsync();
        mock.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return mock;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var record = new RecordedRequest
        {
            Path = context.Request.Path + context.Request.QueryString,
            Body = body,
            Bytes = Encoding.UTF8.GetByteCount(body),
            ReceivedAt = Now,
        };
        Requests.Enqueue(record);
        context.RequestAborted.Register(() => record.AbortedAt ??= Now);
        if (context.Request.Method != "POST" || context.Request.Path != "/v1/messages")
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsync("""{"type":"error","error":{"type":"not_found_error","message":"not here"}}""");
            return;
        }
        var reply = RefuseThirdParty && !HasClaudeCodePrompt(JsonNode.Parse(body))
            ? MockReply.Error(400, ThirdPartyRefusal)
            : ScriptedReply(JsonNode.Parse(body)) ?? Reply(record);
        foreach (var (name, value) in ResponseHeaders ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }
        if (reply.Status != 200)
        {
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            var type = reply.Status switch { 401 => "authentication_error", 429 => "rate_limit_error", >= 500 => "api_error", _ => "invalid_request_error" };
            await context.Response.WriteAsync(new JsonObject
            {
                ["type"] = "error",
                ["error"] = new JsonObject { ["type"] = type, ["message"] = reply.ErrorMessage ?? $"mock says {reply.Status}" },
            }.ToJsonString());
            record.CompletedAt = Now;
            return;
        }
        var model = JsonNode.Parse(body)?["model"]?.GetValue<string>() ?? "claude-sonnet-4-5";
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var ct = context.RequestAborted;
        try
        {
            await SendAsync(context, "message_start", new JsonObject
            {
                ["type"] = "message_start",
                ["message"] = new JsonObject
                {
                    ["id"] = "msg_mock_" + Guid.NewGuid().ToString("N")[..12],
                    ["type"] = "message",
                    ["role"] = "assistant",
                    ["model"] = model,
                    ["content"] = new JsonArray(),
                    ["stop_reason"] = null,
                    ["stop_sequence"] = null,
                    ["usage"] = new JsonObject
                    {
                        ["input_tokens"] = reply.InputTokens,
                        ["cache_read_input_tokens"] = reply.CacheReadTokens,
                        ["cache_creation_input_tokens"] = 0,
                        ["output_tokens"] = 1,
                    },
                },
            }, ct);
            var textIndex = 0;
            if (reply.Thinking is { } thinking)
            {
                await SendThinkingAsync(context, thinking, ct);
                textIndex = 1;
            }
            await SendAsync(context, "content_block_start", new JsonObject
            {
                ["type"] = "content_block_start",
                ["index"] = textIndex,
                ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = "" },
            }, ct);
            for (var i = 0; i < reply.Chunks.Count; i++)
            {
                if (reply.HangAfter == i)
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                if (reply.ChunkDelay > TimeSpan.Zero)
                {
                    await Task.Delay(reply.ChunkDelay, ct);
                }
                await SendAsync(context, "content_block_delta", new JsonObject
                {
                    ["type"] = "content_block_delta",
                    ["index"] = textIndex,
                    ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = reply.Chunks[i] },
                }, ct);
            }
            if (reply.HangAfter == reply.Chunks.Count)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            await SendAsync(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = textIndex }, ct);
            var index = textIndex;
            foreach (var use in reply.AllToolUses)
            {
                index++;
                await SendAsync(context, "content_block_start", new JsonObject
                {
                    ["type"] = "content_block_start",
                    ["index"] = index,
                    ["content_block"] = new JsonObject { ["type"] = "tool_use", ["id"] = use.Id, ["name"] = use.Name, ["input"] = new JsonObject() },
                }, ct);
                // In pieces, as a real model streams it: the reader must join them.
                var input = use.InputJson;
                var third = input.Length / 3;
                foreach (var part in new[] { input[..third], input[third..(2 * third)], input[(2 * third)..] })
                {
                    await SendAsync(context, "content_block_delta", new JsonObject
                    {
                        ["type"] = "content_block_delta",
                        ["index"] = index,
                        ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = part },
                    }, ct);
                }
                await SendAsync(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }, ct);
            }
            await SendAsync(context, "message_delta", new JsonObject
            {
                ["type"] = "message_delta",
                ["delta"] = new JsonObject { ["stop_reason"] = reply.StopReason, ["stop_sequence"] = null },
                ["usage"] = new JsonObject { ["output_tokens"] = reply.OutputTokens },
            }, ct);
            await SendAsync(context, "message_stop", new JsonObject { ["type"] = "message_stop" }, ct);
            record.CompletedAt = Now;
        }
        catch (OperationCanceledException)
        {
            record.AbortedAt ??= Now;
        }
    }

    /// <summary>
    /// The answer <see cref="ToolScript"/> markers ask for, or null when the request's user message has
    /// none. The user message is the last one whose content is not tool results; round k (k = the
    /// assistant tool steps since it) calls its tools, named as the request declares them (NAME, or a
    /// name ending in __NAME); once the rounds are used up, the text of every tool result since.
    /// </summary>
    private static MockReply? ScriptedReply(JsonNode? body)
    {
        if (body?["messages"] is not JsonArray messages)
        {
            return null;
        }
        var userIndex = -1;
        for (var i = messages.Count - 1; i >= 0 && userIndex < 0; i--)
        {
            if (messages[i]?["role"]?.GetValue<string>() == "user" && !Blocks(messages[i]).Any(b => Type(b) == "tool_result"))
            {
                userIndex = i;
            }
        }
        if (userIndex < 0)
        {
            return null;
        }
        var rounds = ToolScript.Parse(string.Join("\n", Blocks(messages[userIndex]).Where(b => Type(b) == "text").Select(b => b!["text"]!.GetValue<string>())));
        if (rounds.Count == 0)
        {
            return null;
        }
        var after = messages.Skip(userIndex + 1).ToList();
        var step = after.Count(m => m?["role"]?.GetValue<string>() == "assistant" && Blocks(m).Any(b => Type(b) == "tool_use"));
        if (step < rounds.Count)
        {
            var declared = (body["tools"] as JsonArray ?? []).Select(t => t?["name"]?.GetValue<string>()).OfType<string>().ToList();
            var uses = rounds[step]
                .Select(call => (Name: declared.FirstOrDefault(n => n == call.Name || n.EndsWith("__" + call.Name, StringComparison.Ordinal)), call.Arguments))
                .Where(c => c.Name is not null)
                .Select(c => new MockToolUse("toolu_mock_" + Guid.NewGuid().ToString("N")[..16], c.Name!, c.Arguments.ToJsonString()))
                .ToList();
            if (uses.Count > 0)
            {
                return new MockReply(["Calling tools."], StopReason: "tool_use", ToolUses: uses);
            }
        }
        var results = after
            .Where(m => m?["role"]?.GetValue<string>() == "user")
            .SelectMany(Blocks)
            .Where(b => Type(b) == "tool_result")
            .Select(b => (ResultText(b!["content"]), b!["is_error"]?.GetValue<bool>() == true));
        return MockReply.Text(ToolScript.FinalAnswer(results));
    }

    private static IEnumerable<JsonNode?> Blocks(JsonNode? message) => message?["content"] switch
    {
        JsonArray blocks => blocks,
        JsonValue text => [new JsonObject { ["type"] = "text", ["text"] = text.GetValue<string>() }],
        _ => [],
    };

    private static string? Type(JsonNode? block) => block?["type"]?.GetValue<string>();

    /// <summary>A tool_result's text, without the reminders claude may add to it.</summary>
    private static string ResultText(JsonNode? content)
    {
        var text = content is JsonArray blocks
            ? string.Concat(blocks.Where(b => Type(b) == "text").Select(b => b!["text"]!.GetValue<string>()).Where(t => !t.StartsWith("<system-reminder>", StringComparison.Ordinal)))
            : content?.GetValue<string>() ?? "";
        var reminder = text.IndexOf("<system-reminder>", StringComparison.Ordinal);
        return (reminder >= 0 ? text[..reminder] : text).TrimEnd('\n');
    }

    /// <summary>A thinking block at index 0, as a model with extended thinking streams it: its deltas, then its signature.</summary>
    private static async Task SendThinkingAsync(HttpContext context, IReadOnlyList<string> thinking, CancellationToken ct)
    {
        await SendAsync(context, "content_block_start", new JsonObject
        {
            ["type"] = "content_block_start",
            ["index"] = 0,
            ["content_block"] = new JsonObject { ["type"] = "thinking", ["thinking"] = "", ["signature"] = "" },
        }, ct);
        foreach (var chunk in thinking)
        {
            await SendAsync(context, "content_block_delta", new JsonObject
            {
                ["type"] = "content_block_delta",
                ["index"] = 0,
                ["delta"] = new JsonObject { ["type"] = "thinking_delta", ["thinking"] = chunk },
            }, ct);
        }
        await SendAsync(context, "content_block_delta", new JsonObject
        {
            ["type"] = "content_block_delta",
            ["index"] = 0,
            ["delta"] = new JsonObject { ["type"] = "signature_delta", ["signature"] = "mock-signature-" + Guid.NewGuid().ToString("N")[..8] },
        }, ct);
        await SendAsync(context, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = 0 }, ct);
    }

    private static async Task SendAsync(HttpContext context, string name, JsonObject data, CancellationToken ct)
    {
        await context.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", ct);
        await context.Response.Body.FlushAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
