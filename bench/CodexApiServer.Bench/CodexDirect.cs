using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;
using Microsoft.Extensions.Logging.Abstractions;

namespace CodexApiServer.Bench;

/// <summary>
/// A minimal JSON-RPC client to one warm `codex app-server`: the baseline our server is compared
/// with. It sends what CodexProvider sends (thread/start with the same settings, turn/start).
/// </summary>
public sealed class CodexDirect : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> _pending = new();
    private readonly Channel<JsonNode> _notifications = Channel.CreateUnbounded<JsonNode>();
    private readonly string _cwd;
    private readonly string _certificatesDir;
    private int _nextId;
    private string? _spare;
    private string? _toolSpare;

    private CodexDirect(Process process, string cwd, string certificatesDir)
    {
        _process = process;
        _cwd = cwd;
        _certificatesDir = certificatesDir;
        _ = Task.Run(ReadAsync);
    }

    /// <summary>Starts `codex app-server` as CodexProvider starts it: the native binary behind the npm wrapper, its certificates in one file.</summary>
    public static async Task<CodexDirect> StartAsync(string codex, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("codex-direct");
        var certificatesDir = Tests.Support.TempDir.Create("codex-direct-certificates");
        var launch = CodexLaunch.For(codex, new CodexCertificates(certificatesDir, env, NullLogger.Instance).Environment());
        var p = Children.Start(launch.File, ["app-server"], cwd, launch.Environment ?? env);
        var client = new CodexDirect(p, cwd, certificatesDir);
        await client.RequestAsync("initialize", new JsonObject
        {
            ["clientInfo"] = new JsonObject { ["name"] = "bench", ["version"] = "1" },
            ["capabilities"] = new JsonObject { ["experimentalApi"] = true },
        });
        await client.SendAsync(new JsonObject { ["method"] = "initialized" });
        return client;
    }

    /// <summary>
    /// One turn on a new conversation, as CodexProvider runs it: on a thread started ahead with the
    /// provider's chat settings (its config overrides included), the next one started after the turn.
    /// Returns (time to first agentMessage delta, time to turn/completed).
    /// </summary>
    public async Task<(double FirstMs, double TotalMs)> NewConversationTurnAsync(string model, string prompt, string baseInstructions)
    {
        var threadId = _spare ?? await StartThreadAsync(model, baseInstructions);
        _spare = null;
        var clock = Stopwatch.StartNew();
        await RequestAsync("turn/start", new JsonObject
        {
            ["threadId"] = threadId,
            ["input"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = prompt }),
            ["model"] = model,
        });
        double first = -1;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var n = await _notifications.Reader.ReadAsync(timeout.Token);
            var method = (string?)n["method"];
            if ((string?)n["params"]?["threadId"] is { } t && t != threadId)
            {
                continue;
            }
            if (method == "item/agentMessage/delta" && first < 0)
            {
                first = clock.Elapsed.TotalMilliseconds;
            }
            else if (method == "turn/completed")
            {
                var total = clock.Elapsed.TotalMilliseconds;
                await RequestAsync("thread/unsubscribe", new JsonObject { ["threadId"] = threadId });
                _spare = await StartThreadAsync(model, baseInstructions);
                return (first, total);
            }
        }
    }

    /// <summary>
    /// One turn whose model calls a client tool, on a thread started ahead as CodexProvider starts one for
    /// <paramref name="request"/> (its thread/start and turn/start params come from CodexThreadSettings, so
    /// the dynamic tools and raw events are the provider's). Once the step is whole (codex asked for the
    /// call and the model's response is over, which is when the server hands the call to its client), it
    /// waits <paramref name="toolTime"/>, as the client's tool would, then answers the call as the provider
    /// does (CodexToolStep.WriteAnswer). Returns the time from that answer to the first agentMessage delta.
    /// </summary>
    public async Task<double> ToolRoundTripAsync(TurnRequest request, string output, TimeSpan toolTime)
    {
        var threadId = _toolSpare ?? await StartToolThreadAsync(request);
        _toolSpare = null;
        var turn = await RequestAsync("turn/start", Params(w => CodexThreadSettings.WriteTurnStart(w, threadId, request)));
        // The provider's own step logic says when the model's step is whole (the call asked for, the response over).
        var step = new CodexToolStep((string)turn["turn"]!["id"]!, [.. request.Tools!.Select(t => t.Name)]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        IReadOnlyList<PendingToolCall>? calls = null;
        while (calls is null)
        {
            var n = await _notifications.Reader.ReadAsync(timeout.Token);
            if ((string?)n["params"]?["threadId"] is { } t && t != threadId)
            {
                continue;
            }
            var message = JsonDocument.Parse(n.ToJsonString()).RootElement;
            switch ((string?)n["method"])
            {
                case "item/tool/call":
                    step.Ask(message.GetProperty("id"), message);
                    break;
                case "turn/completed":
                    throw new InvalidOperationException("codex ended the turn without calling the tool: " + n.ToJsonString());
                default:
                    step.Observe(message);
                    break;
            }
            calls = step.TakeStep();
        }
        if (calls is not [var call])
        {
            throw new InvalidOperationException($"codex made {calls.Count} calls, not one");
        }
        await Task.Delay(toolTime);
        var clock = Stopwatch.StartNew();
        var answer = Params(w => CodexToolStep.WriteAnswer(w, new ToolResult(call.Call.Id, output)));
        await SendAsync(new JsonObject { ["id"] = JsonNode.Parse(call.RequestId.GetRawText()), ["result"] = answer });
        double first = -1;
        while (true)
        {
            var n = await _notifications.Reader.ReadAsync(timeout.Token);
            if ((string?)n["params"]?["threadId"] is { } t && t != threadId)
            {
                continue;
            }
            var method = (string?)n["method"];
            if (method == "item/agentMessage/delta" && first < 0)
            {
                first = clock.Elapsed.TotalMilliseconds;
            }
            else if (method == "turn/completed")
            {
                await RequestAsync("thread/unsubscribe", new JsonObject { ["threadId"] = threadId });
                _toolSpare = await StartToolThreadAsync(request);
                return first >= 0 ? first : throw new InvalidOperationException("codex wrote no text after the tool result");
            }
        }
    }

    private async Task<string> StartToolThreadAsync(TurnRequest request)
    {
        var started = await RequestAsync("thread/start", Params(w => CodexThreadSettings.WriteThreadStart(w, new ServerConfig(), request, _cwd, [])));
        return (string)started["thread"]!["id"]!;
    }

    /// <summary>Params written by one of the product's builders, which write members into an open object.</summary>
    private static JsonObject Params(Action<Utf8JsonWriter> members)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            members(w);
            w.WriteEndObject();
        }
        return JsonNode.Parse(buffer.ToArray())!.AsObject();
    }

    /// <summary>A thread as CodexProvider starts one for a chat request with these instructions (CodexThreadSettings).</summary>
    private async Task<string> StartThreadAsync(string model, string baseInstructions)
    {
        var request = new TurnRequest(new ModelEntry(model, ProviderKind.Codex, 0, model), baseInstructions, []);
        var started = await RequestAsync("thread/start", Params(w => CodexThreadSettings.WriteThreadStart(w, new ServerConfig(), request, _cwd, [])));
        return (string)started["thread"]!["id"]!;
    }

    private async Task<JsonNode> RequestAsync(string method, JsonObject parameters)
    {
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        await SendAsync(new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters });
        var answer = await tcs.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return answer["error"] is { } error
            ? throw new InvalidOperationException($"codex {method}: {error.ToJsonString()}")
            : answer["result"] ?? new JsonObject();
    }

    private async Task SendAsync(JsonObject message)
    {
        var line = message.ToJsonString() + "\n";
        await _process.StandardInput.WriteAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    private async Task ReadAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            JsonNode? message;
            try
            {
                message = JsonNode.Parse(line);
            }
            catch (JsonException)
            {
                continue;
            }
            if (message is not JsonObject o)
            {
                continue;
            }
            var hasId = o.TryGetPropertyValue("id", out var idNode) && idNode is not null;
            if (hasId && (string?)o["method"] == "item/tool/call")
            {
                // A call of a client tool: ToolRoundTripAsync answers it.
                _notifications.Writer.TryWrite(o);
            }
            else if (hasId && o.ContainsKey("method"))
            {
                // Any other request from codex (approval, user input ...): refuse it so the turn never waits.
                await SendAsync(new JsonObject { ["id"] = idNode!.DeepClone(), ["error"] = new JsonObject { ["code"] = -32601, ["message"] = "not handled" } });
            }
            else if (hasId && idNode!.GetValueKind() == JsonValueKind.Number && _pending.TryRemove(idNode.GetValue<int>(), out var tcs))
            {
                tcs.TrySetResult(o);
            }
            else if (o.ContainsKey("method"))
            {
                _notifications.Writer.TryWrite(o);
            }
        }
        foreach (var (_, tcs) in _pending)
        {
            tcs.TrySetException(new IOException("codex app-server exited"));
        }
        _notifications.Writer.TryComplete();
    }

    public ValueTask DisposeAsync()
    {
        Children.End(_process);
        Tests.Support.TempDir.Delete(_cwd);
        Tests.Support.TempDir.Delete(_certificatesDir);
        return ValueTask.CompletedTask;
    }
}
