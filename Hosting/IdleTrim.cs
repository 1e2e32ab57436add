namespace CodexApiServer.Hosting;

/// <summary>
/// Gives back to the system the memory that requests left committed, once the server has gone quiet:
/// after a whole period with no request started or running, one aggressive, compacting
/// collection (a few milliseconds for this heap), then nothing until requests come again. The GC
/// otherwise keeps what a burst grew to until the next busy collection, which an idle server never has
/// (one /health left ~1.7 MB of it committed).
/// </summary>
public sealed class IdleTrim(TimeSpan period) : BackgroundService
{
    private long _started;
    private int _running;

    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromSeconds(5);

    /// <summary>One aggressive, compacting collection: what the heap grew to goes back to the system.</summary>
    public static void GiveBack() => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Collections this has made (tests).</summary>
    public int Trims { get; private set; }

    public void RequestStarted()
    {
        Interlocked.Increment(ref _started);
        Interlocked.Increment(ref _running);
    }

    public void RequestEnded() => Interlocked.Decrement(ref _running);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(period);
        var seen = Interlocked.Read(ref _started);
        var trimmed = true; // start-up's own collection ran as the server began listening (Program.cs)
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var started = Interlocked.Read(ref _started);
                if (started != seen || Volatile.Read(ref _running) > 0)
                {
                    seen = started;
                    trimmed = false;
                    continue;
                }
                if (!trimmed)
                {
                    GiveBack();
                    Trims++;
                    trimmed = true;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
