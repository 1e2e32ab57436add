using System.Text.Json;
using System.Threading.Channels;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// One turn on a loaded thread of the app-server: turn/start, then the thread's notifications through
/// <see cref="CodexTurnDecoder"/> until the turn ends; turn/interrupt when the caller leaves or the
/// credential is refused. Client-tool calls are gathered by model step (<see cref="CodexToolStep"/>) and
/// held: the turn waits for the client's results and answers codex with them. The caller holds
/// <see cref="CodexThread.Lock"/> for the turn.
/// </summary>
/// <param name="endHungServer">Ends the app-server when it leaves a request unanswered.</param>
internal sealed partial class CodexAppServerTurn(CodexAppServer server, CodexThread thread, ILogger logger, TimeSpan requestTimeout, Action endHungServer)
{
    private static readonly TimeSpan InterruptDrain = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Set instead of failing the turn when the upstream refused our base instructions and <see cref="MayFallBack"/>:
    /// the provider runs the request again on a thread with Codex's own.
    /// </summary>
    public bool InstructionsRefused { get; private set; }

    public bool MayFallBack { get; init; }

    /// <returns>False when the lock is handed on to a task that waits for an interrupted turn to wind down.</returns>
    public async Task<bool> RunAsync(TurnRequest request, ChannelWriter<TurnEvent> events, Action? afterFirstOutput, CancellationToken cancellationToken)
    {
        void Output(TurnEvent e)
        {
            events.TryWrite(e);
            if (afterFirstOutput is { } then)
            {
                afterFirstOutput = null;
                then();
            }
        }

        var notifications = Channel.CreateUnbounded<JsonElement>(new UnboundedChannelOptions { SingleReader = true });
        server.Subscriptions[thread.ThreadId] = notifications;
        var handedOn = false;
        try
        {
            JsonElement started;
            try
            {
                // Not cancelled midway: once codex has the turn we need its id to interrupt it.
                started = await StartAsync(request);
            }
            catch (JsonRpcException e)
            {
                events.TryWrite(TurnEnded.Failed(CodexProtocol.IsUnknownModel(e.Message) ? CodexProtocol.UnknownModel(e.Message)
                    : new ProviderError(ProviderErrorKind.InvalidRequest, "Codex refused the turn: " + ErrorText.WithoutAddresses(e.Message))));
                return true;
            }
            var turnId = CodexProtocol.Str(CodexProtocol.Prop(started, "turn"), "id")
                ?? throw new InvalidOperationException("turn/start answered without a turn id");

            if (cancellationToken.IsCancellationRequested)
            {
                // The lock goes with the interrupt: returning (not throwing) is what keeps the caller from releasing it too.
                handedOn = true;
                _ = InterruptAsync(notifications, turnId, []);
                return false;
            }

            var decoder = new CodexTurnDecoder(thread.ThreadId, turnId);
            var step = new CodexToolStep(turnId, [.. CodexThreadSettings.DeclaredTools(request).Select(t => t.Name)]);
            while (true)
            {
                JsonElement message;
                try
                {
                    message = await notifications.Reader.ReadAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    handedOn = true;
                    _ = InterruptAsync(notifications, turnId, []);
                    return false;
                }
                catch (ChannelClosedException)
                {
                    events.TryWrite(TurnEnded.Failed(Crashed(server)));
                    return true;
                }

                if (IsToolCall(message, out var requestId))
                {
                    step.Ask(requestId, message);
                }
                else
                {
                    step.Observe(message);
                }
                if (step.TakeStep() is { } calls)
                {
                    var held = new ToolCallsRequested([.. calls.Select(c => c.Call)]);
                    Output(held);
                    IReadOnlyList<ToolResult> results;
                    try
                    {
                        results = await held.Results.WaitAsync(cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        handedOn = true;
                        _ = InterruptAsync(notifications, turnId, calls);
                        return false;
                    }
                    try
                    {
                        foreach (var call in calls)
                        {
                            var result = ToolCallsRequested.ResultFor(call.Call, results);
                            await server.Rpc.RespondAsync(call.RequestId, w => CodexToolStep.WriteAnswer(w, result));
                        }
                    }
                    catch (IOException)
                    {
                        events.TryWrite(TurnEnded.Failed(Crashed(server)));
                        return true;
                    }
                    continue;
                }
                if (requestId.ValueKind != JsonValueKind.Undefined)
                {
                    continue;
                }

                var update = decoder.Decode(message);
                if (update.Error is { } error)
                {
                    LogTurnError(logger, thread.ThreadId, error, update.WillRetry);
                }
                if (MayFallBack && update.Outcome == CodexTurnOutcome.Ended
                    && update.Events.OfType<TurnEnded>().Any(e => CodexProtocol.IsInstructionsRefused(e.Error)))
                {
                    InstructionsRefused = true;
                    return true;
                }
                foreach (var e in update.Events)
                {
                    if (e is TextDelta or ReasoningDelta)
                    {
                        Output(e);
                    }
                    else
                    {
                        events.TryWrite(e is TurnEnded { Error: { } failure } ended ? ended with { Error = server.WithReset(failure) } : e);
                    }
                }
                switch (update.Outcome)
                {
                    case CodexTurnOutcome.Ended:
                        return true;
                    case CodexTurnOutcome.Refused:
                        // Codex retries until interrupted; the thread stays locked until it has wound down.
                        handedOn = true;
                        _ = InterruptAsync(notifications, turnId, []);
                        return false;
                }
            }
        }
        finally
        {
            if (!handedOn)
            {
                server.Subscriptions.TryRemove(new KeyValuePair<string, Channel<JsonElement>>(thread.ThreadId, notifications));
            }
            afterFirstOutput?.Invoke();
        }
    }

    /// <summary>turn/start, after the history with tool calls (if any) went in as items (<see cref="CodexHistory"/>).</summary>
    private async Task<JsonElement> StartAsync(TurnRequest request)
    {
        var history = CodexHistory.Split(request.Messages).History;
        if (history.Count > 0)
        {
            await server.Rpc.RequestAsync("thread/inject_items", w => CodexHistory.WriteInjectItems(w, thread.ThreadId, history), requestTimeout, CancellationToken.None);
        }
        return await server.Rpc.RequestAsync("turn/start", w => CodexThreadSettings.WriteTurnStart(w, thread.ThreadId, request), requestTimeout, CancellationToken.None);
    }

    /// <summary>A client-tool call codex asks us for (a request on the thread's channel, not a notification); <paramref name="id"/> is set for any request.</summary>
    private static bool IsToolCall(JsonElement message, out JsonElement id)
    {
        id = message.TryGetProperty("id", out var value) ? value : default;
        return id.ValueKind != JsonValueKind.Undefined && CodexProtocol.Str(message, "method") == "item/tool/call";
    }

    /// <summary>
    /// Stops a turn upstream, then keeps the thread locked until codex says the turn ended. Calls codex still
    /// waits on (<paramref name="unanswered"/>, or asked for meanwhile) are answered as failed, so none is left open.
    /// </summary>
    private async Task InterruptAsync(Channel<JsonElement> notifications, string turnId, IReadOnlyList<PendingToolCall> unanswered)
    {
        try
        {
            await server.Rpc.RequestAsync("turn/interrupt", w =>
            {
                w.WriteString("threadId", thread.ThreadId);
                w.WriteString("turnId", turnId);
            }, InterruptDrain, CancellationToken.None);
            foreach (var call in unanswered)
            {
                await server.Rpc.RespondAsync(call.RequestId, w => CodexToolStep.WriteAnswer(w, Cancelled(call)));
            }
            using var drain = new CancellationTokenSource(InterruptDrain);
            while (true)
            {
                var message = await notifications.Reader.ReadAsync(drain.Token);
                if (IsToolCall(message, out var id))
                {
                    await server.Rpc.RespondAsync(id, w => CodexToolStep.WriteAnswer(w, new ToolResult("", "The turn was cancelled.", IsError: true)));
                }
                else if (CodexProtocol.Str(message, "method") == "turn/completed")
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonRpcException or TimeoutException or OperationCanceledException or ChannelClosedException)
        {
            LogInterruptFailed(logger, thread.ThreadId, e.Message);
            if (e is TimeoutException)
            {
                endHungServer();
            }
        }
        finally
        {
            server.Subscriptions.TryRemove(new KeyValuePair<string, Channel<JsonElement>>(thread.ThreadId, notifications));
            thread.Lock.Release();
        }
    }


    private static ToolResult Cancelled(PendingToolCall call) => new(call.Call.Id, "The turn was cancelled.", IsError: true);

    private static ProviderError Crashed(CodexAppServer server) => new(ProviderErrorKind.Crashed,
        $"the codex app-server exited during the turn ({server.ExitDescription}); the next request starts it again");

    [LoggerMessage(Level = LogLevel.Debug, Message = "Codex thread {ThreadId} reported an error (will retry: {WillRetry}): {Message}")]
    private static partial void LogTurnError(ILogger logger, string threadId, string message, bool willRetry);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Interrupting Codex thread {ThreadId} did not finish cleanly: {Reason}")]
    private static partial void LogInterruptFailed(ILogger logger, string threadId, string reason);
}
