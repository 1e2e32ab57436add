// Reply(request, token, delay, params deltas): params must come last.
#pragma warning disable CA1068
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Api;

/// <summary>A scripted provider: records each request and token, plays a script, honours cancellation.</summary>
public sealed class FakeProvider(ProviderKind kind = ProviderKind.Codex) : ITurnProvider
{
    private int _sessions;
    private int _running;

    public ProviderKind Kind => kind;
    public ConcurrentQueue<TurnRequest> Requests { get; } = new();
    public ConcurrentQueue<CancellationToken> Tokens { get; } = new();
    public ConcurrentQueue<string> EndedSessions { get; } = new();
    public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int MaxRunning { get; private set; }

    /// <summary>The events of one turn; the default says "Hello world" with usage and a session id.</summary>
    public Func<TurnRequest, CancellationToken, IAsyncEnumerable<TurnEvent>>? Script { get; set; }

    public FakeProvider Then(Func<TurnRequest, CancellationToken, IAsyncEnumerable<TurnEvent>> script)
    {
        Script = script;
        return this;
    }

    public static readonly TokenUsage DefaultUsage = new(12, 3, CachedInputTokens: 4, ReasoningTokens: 1);

    /// <summary>Reasoning ("Thinking it over."), then the deltas, usage and completion.</summary>
    public async IAsyncEnumerable<TurnEvent> Reply(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken, TimeSpan delay, params string[] deltas)
    {
        yield return new ReasoningDelta("Thinking it over.");
        foreach (var delta in deltas)
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellationToken);
            }
            yield return new TextDelta(delta);
        }
        yield return new UsageReport(DefaultUsage);
        yield return new TurnEnded(TurnEndReason.Stop, request.SessionId ?? $"sess-{Interlocked.Increment(ref _sessions)}");
    }

    public async IAsyncEnumerable<TurnEvent> RunAsync(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Requests.Enqueue(request);
        Tokens.Enqueue(cancellationToken);
        using var registration = cancellationToken.Register(() => Cancelled.TrySetResult());
        var now = Interlocked.Increment(ref _running);
        lock (Tokens)
        {
            MaxRunning = Math.Max(MaxRunning, now);
        }
        try
        {
            await foreach (var e in (Script ?? ((r, ct) => Reply(r, ct, TimeSpan.Zero, "Hello", " world")))(request, cancellationToken).WithCancellation(cancellationToken))
            {
                yield return e;
            }
        }
        finally
        {
            // CancelAsync runs the callbacks later, on the pool: a turn that ends at once on the cancelled
            // token (Task.Delay throws at its start) disposes the registration before its callback ran.
            if (cancellationToken.IsCancellationRequested)
            {
                Cancelled.TrySetResult();
            }
            Interlocked.Decrement(ref _running);
        }
    }

    public ValueTask EndSessionAsync(string sessionId)
    {
        EndedSessions.Enqueue(sessionId);
        return ValueTask.CompletedTask;
    }
}
