using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Api;

namespace CodexApiServer.Tests.Turns;

/// <summary>TurnRun on a scripted provider, no HTTP: what the driver reads is deltas, then one TurnEnded that says it all.</summary>
public sealed class TurnRunTests
{
    private static readonly ModelEntry Model = new("gpt-5.2-codex", ProviderKind.Codex, 0, "gpt-5.2-codex");
    private static readonly SilenceLimits Patient = new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));

    [Fact]
    public async Task Usage_reports_pass_on_the_last_travels_on_the_end_and_no_activity_event_is_passed_on()
    {
        var fake = new FakeProvider { Script = (_, _) => ApiServer.Events(new TextDelta("Hi"), CliActivity.Instance, new UsageReport(new TokenUsage(1, 1)), new UsageReport(new TokenUsage(5, 2)), new TurnEnded(TurnEndReason.Stop, "s1")) };
        var (events, _) = await RunAsync(fake, Request());
        Assert.Equal<TurnEvent>([new TextDelta("Hi"), new UsageReport(new TokenUsage(1, 1)), new UsageReport(new TokenUsage(5, 2)),
            new TurnEnded(TurnEndReason.Stop, "s1", new TokenUsage(5, 2))], events);
    }

    [Fact]
    public async Task A_turn_past_its_time_limit_ends_as_timeout_after_what_it_said()
    {
        var fake = new FakeProvider { Script = (_, ct) => SayThenWait(ct, "partial") };
        var (events, _) = await RunAsync(fake, Request(), timeout: TimeSpan.FromMilliseconds(300));
        Assert.Equal(new TextDelta("partial"), events[0]);
        Assert.Equal(TurnEndReason.Timeout, Assert.IsType<TurnEnded>(events[^1]).Reason);
    }

    [Fact]
    public async Task The_callers_cancel_ends_it_as_cancelled_not_failed()
    {
        var fake = new FakeProvider { Script = (_, ct) => SayThenWait(ct, "partial") };
        using var caller = new CancellationTokenSource();
        var reading = RunAsync(fake, Request(), cancellationToken: caller.Token);
        while (fake.Requests.IsEmpty)
        {
            await Task.Delay(10);
        }
        Assert.False(fake.Cancelled.Task.IsCompleted);
        await caller.CancelAsync();
        var (events, _) = await reading;
        var end = Assert.IsType<TurnEnded>(events[^1]);
        Assert.Equal(TurnEndReason.Cancelled, end.Reason);
        Assert.Null(end.Error);
    }

    [Fact]
    public async Task A_session_that_is_gone_is_replayed_once_in_a_fresh_one_and_only_the_replay_is_heard()
    {
        var fake = new FakeProvider
        {
            Script = (r, _) => r.SessionId is not null
                ? ApiServer.Events(TurnEnded.Failed(new ProviderError(ProviderErrorKind.SessionNotFound, "gone")))
                : ApiServer.Events(new TextDelta("fresh"), new TurnEnded(TurnEndReason.Stop, "s2")),
        };
        var (events, _) = await RunAsync(fake, Request() with { SessionId = "s1" }, replay: Request());
        Assert.Equal<TurnEvent>([new TextDelta("fresh"), new TurnEnded(TurnEndReason.Stop, "s2")], events);
        Assert.Equal(2, fake.Requests.Count);
    }

    [Fact]
    public async Task A_provider_that_throws_ends_as_failed_and_the_slot_is_given_back()
    {
        var fake = new FakeProvider { Script = (_, _) => Throw() };
        var (events, limiter) = await RunAsync(fake, Request());
        var end = Assert.IsType<TurnEnded>(Assert.Single(events));
        Assert.Equal(ProviderErrorKind.Crashed, end.Error?.Kind);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task A_cli_silent_past_its_first_output_limit_is_stopped_as_stalled()
    {
        var fake = new FakeProvider { Script = (_, ct) => SayThenWait(ct) };
        var (events, _) = await RunAsync(fake, Request(), silence: new SilenceLimits(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30)));
        var end = Assert.IsType<TurnEnded>(Assert.Single(events));
        Assert.Equal(ProviderErrorKind.Stalled, end.Error?.Kind);
        Assert.Contains("firstOutputTimeoutSeconds", end.Error!.Message, StringComparison.Ordinal);
    }

    private static TurnRequest Request() => new(Model, null, [TurnMessage.User("hi")]);

    /// <summary>Reads the run as the driver does, with a keep-alive wait, until its end.</summary>
    private static async Task<(List<TurnEvent> Events, ConcurrencyLimiter Limiter)> RunAsync(FakeProvider fake, TurnRequest request, TurnRequest? replay = null,
        TimeSpan? timeout = null, SilenceLimits? silence = null, CancellationToken cancellationToken = default)
    {
        var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var lease = limiter.AttemptAcquire();
        Assert.True(lease.IsAcquired);
        var events = new List<TurnEvent>();
        await using (var run = new TurnRun(fake, request, replay, lease, timeout ?? TimeSpan.FromSeconds(30), silence ?? Patient, TimeSpan.FromSeconds(5), cancellationToken))
        {
            while (events.LastOrDefault() is not TurnEnded)
            {
                if (await run.ReadAsync(TimeSpan.FromMilliseconds(50)) is { } e)
                {
                    events.Add(e);
                }
            }
        }
        return (events, limiter);
    }

    private static async IAsyncEnumerable<TurnEvent> SayThenWait([EnumeratorCancellation] CancellationToken ct, params string[] said)
    {
        foreach (var text in said)
        {
            yield return new TextDelta(text);
        }
        await Task.Delay(Timeout.Infinite, ct);
    }

    private static async IAsyncEnumerable<TurnEvent> Throw()
    {
        await Task.Yield();
        throw new InvalidOperationException("boom");
#pragma warning disable CS0162 // an iterator needs a yield
        yield break;
#pragma warning restore CS0162
    }
}
