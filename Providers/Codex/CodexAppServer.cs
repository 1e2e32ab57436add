using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// One running `codex app-server` (JSON-RPC over stdio) and the turns listening to it: the
/// initialize handshake, notifications routed to the thread they are for, an answer to every
/// request codex makes, and the end of its turns when it exits.
/// </summary>
internal sealed partial class CodexAppServer
{
    private readonly ILogger _logger;
    private readonly StderrTail _stderr = new();
    private readonly UsageWindows? _usage;

    /// <summary>A usage-limit failure with its window's reset, when the rate-limit report that came with it said.</summary>
    public ProviderError WithReset(ProviderError error) => _usage?.WithReset(ProviderKind.Codex, error) ?? error;

    private CodexAppServer(Process process, int generation, ILogger logger, int maxLineBytes, Action<CodexAppServer> onExited, UsageWindows? usage = null)
    {
        _usage = usage;
        _logger = logger;
        Process = process;
        Pid = process.Id;
        Generation = generation;
        StartedAt = Stopwatch.GetTimestamp();
        Rpc = new JsonRpcLineClient(process.StandardInput.BaseStream, process.StandardOutput.BaseStream, logger,
            OnNotification, OnServerRequestAsync, maxLineBytes);
        StderrDrained = Task.Run(() => _stderr.DrainAsync(process.StandardError.BaseStream, line => LogStderr(logger, Pid, line)));
        Rpc.Completion.ContinueWith(_ =>
        {
            foreach (var (_, channel) in Subscriptions)
            {
                channel.Writer.TryComplete(new IOException("the codex app-server exited"));
            }
            onExited(this);
        }, TaskScheduler.Default);
    }

    /// <summary>
    /// Starts `codex app-server` in <paramref name="cwd"/> and completes the initialize handshake.
    /// On failure the process is ended and the exception says what codex printed on its way out.
    /// </summary>
    /// <param name="onExited">Runs once the process's output closes (its turns have been failed by then).</param>
    public static async Task<CodexAppServer> StartAsync(ChildProcesses children, CodexLaunch codex, string cwd, CodexProviderOptions options, ILogger logger,
        int generation, Action<CodexAppServer> onExited, CancellationToken cancellationToken)
    {
        var process = children.Start(codex.File, ["app-server"], cwd, codex.Environment);
        var server = new CodexAppServer(process, generation, logger, options.MaxLineBytes, onExited, options.UsageWindows);
        try
        {
            await server.Rpc.RequestAsync("initialize", WriteInitialize, options.RequestTimeout, cancellationToken);
            await server.Rpc.NotifyAsync("initialized", cancellationToken);
        }
        catch (Exception e) when (e is IOException or TimeoutException or JsonRpcException)
        {
            children.End(process);
            // What codex printed on its way out is what the operator needs to see.
            await Task.WhenAny(server.StderrDrained, Task.Delay(500, CancellationToken.None));
            var stderr = server.StderrTail;
            throw new IOException($"codex app-server did not start ({e.Message}){(stderr.Length > 0 ? "; stderr: " + stderr : "")}", e);
        }
        catch
        {
            children.End(process);
            throw;
        }
        return server;
    }

    /// <summary>The initialize params: who we are, and that we use the experimental API (thread settings such as config overrides).</summary>
    internal static void WriteInitialize(Utf8JsonWriter w)
    {
        w.WritePropertyName("clientInfo");
        w.WriteStartObject();
        w.WriteString("name", "codex-api-server");
        w.WriteString("version", AppInfo.Version);
        w.WriteEndObject();
        w.WritePropertyName("capabilities");
        w.WriteStartObject();
        w.WriteBoolean("experimentalApi", true);
        w.WriteEndObject();
    }

    public Process Process { get; }
    public Task StderrDrained { get; }
    public int Pid { get; }

    /// <summary>Which start of the app-server this is: a thread loaded in another one must be resumed here.</summary>
    public int Generation { get; }

    public long StartedAt { get; }
    public JsonRpcLineClient Rpc { get; }

    /// <summary>The notification channel of each thread with a turn running, by thread id; it gets that thread's item/tool/call requests too.</summary>
    public ConcurrentDictionary<string, Channel<JsonElement>> Subscriptions { get; } = new(StringComparer.Ordinal);

    public bool IsAlive => !Rpc.IsClosed;

    /// <summary>Started from a codexPath that is no longer configured: no new turn goes to it.</summary>
    public volatile bool Retired;

    public string StderrTail => _stderr.ToString();

    public string ExitDescription
    {
        get
        {
            try
            {
                return Process.HasExited ? $"exit code {Process.ExitCode}" : "output closed";
            }
            catch (InvalidOperationException)
            {
                return "gone";
            }
        }
    }

    /// <summary>The models codex offers (model/list, up to 10 pages).</summary>
    public async Task<IReadOnlyList<string>> ListModelsAsync(TimeSpan timeout)
    {
        var ids = new List<string>();
        string? cursor = null;
        for (var page = 0; page < 10; page++)
        {
            var result = await Rpc.RequestAsync("model/list", w =>
            {
                if (cursor is not null)
                {
                    w.WriteString("cursor", cursor);
                }
            }, timeout, CancellationToken.None);
            if (CodexProtocol.Prop(result, "data") is { ValueKind: JsonValueKind.Array } data)
            {
                foreach (var model in data.EnumerateArray())
                {
                    if (CodexProtocol.Str(model, "id") is { } id)
                    {
                        ids.Add(id);
                    }
                }
            }
            cursor = CodexProtocol.Str(result, "nextCursor");
            if (cursor is null)
            {
                break;
            }
        }
        return ids;
    }

    private void OnNotification(JsonElement message)
    {
        if (CodexProtocol.Str(message, "method") == "account/rateLimits/updated")
        {
            _usage?.ReportCodex(CodexProtocol.Prop(message, "params"));
            return;
        }
        var threadId = CodexProtocol.Str(CodexProtocol.Prop(message, "params"), "threadId");
        if (threadId is not null && Subscriptions.TryGetValue(threadId, out var channel))
        {
            channel.Writer.TryWrite(message);
        }
    }

    // Every request from codex gets an answer, or the turn that caused it would wait forever.
    // We never approve anything: the threads are read-only chat. A client tool call goes to its turn, which answers it.
    private async ValueTask OnServerRequestAsync(JsonElement id, JsonElement message)
    {
        var method = CodexProtocol.Str(message, "method") ?? "";
        LogServerRequest(_logger, method);
        switch (method)
        {
            case "item/commandExecution/requestApproval" or "item/fileChange/requestApproval":
                await Rpc.RespondAsync(id, w => w.WriteString("decision", "decline"));
                break;
            case "applyPatchApproval" or "execCommandApproval":
                await Rpc.RespondAsync(id, w =>
                {
                    w.WritePropertyName("decision");
                    w.WriteStartObject();
                    w.WritePropertyName("denied");
                    w.WriteStartObject();
                    w.WriteString("rejection", "codex-api-server does not allow commands or file changes");
                    w.WriteEndObject();
                    w.WriteEndObject();
                });
                break;
            case "item/permissions/requestApproval":
                await Rpc.RespondAsync(id, w =>
                {
                    w.WritePropertyName("permissions");
                    w.WriteStartObject();
                    w.WriteEndObject();
                    w.WriteString("scope", "turn");
                });
                break;
            case "item/tool/requestUserInput":
                await Rpc.RespondAsync(id, w =>
                {
                    w.WritePropertyName("answers");
                    w.WriteStartObject();
                    w.WriteEndObject();
                });
                break;
            case "mcpServer/elicitation/request":
                await Rpc.RespondAsync(id, w => w.WriteString("action", "decline"));
                break;
            case "item/tool/call" when CodexProtocol.Str(CodexProtocol.Prop(message, "params"), "threadId") is { } threadId
                && Subscriptions.TryGetValue(threadId, out var turn) && turn.Writer.TryWrite(message):
                // A call of a client tool: the turn running on that thread answers it, once the client has.
                break;
            case "item/tool/call":
                await Rpc.RespondAsync(id, w =>
                {
                    w.WritePropertyName("contentItems");
                    w.WriteStartArray();
                    w.WriteEndArray();
                    w.WriteBoolean("success", false);
                });
                break;
            default:
                await Rpc.RespondErrorAsync(id, -32601, $"codex-api-server does not handle {method}");
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "codex[{Pid}] stderr: {Line}")]
    internal static partial void LogStderr(ILogger logger, int pid, string line);

    [LoggerMessage(Level = LogLevel.Debug, Message = "codex asked {Method}; answered with a refusal unless it is a client tool call of a running turn")]
    private static partial void LogServerRequest(ILogger logger, string method);
}
