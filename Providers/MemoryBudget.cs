using System.Diagnostics;
using System.Globalization;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers;

/// <summary>
/// Keeps the memory of our CLI processes (each one's whole process tree, measured) within
/// memoryBudgetMb. A process may start only when its expected size fits beside the others and the
/// reservations of processes about to start; to make room, spares are ended first, then the least
/// recently used idle session (it resumes with its history when used again). A turn that cannot fit
/// waits; the router gives it 429 when its queue time is up.
/// </summary>
public sealed partial class MemoryBudget : IDisposable
{
    private const long MiB = 1024 * 1024;

    /// <summary>A young process may not have reached its size yet: it counts at least as the expected size.</summary>
    private static readonly TimeSpan Young = TimeSpan.FromSeconds(10);

    private static readonly Dictionary<string, long> DefaultSize = new(StringComparer.Ordinal)
    {
        ["claude"] = 200 * MiB,
        ["codex"] = 150 * MiB,
    };

    private readonly ServerSettings _settings;
    private readonly ILogger<MemoryBudget> _logger;
    private readonly List<ICliProcessOwner> _owners = [];
    private readonly Lock _lock = new();
    private readonly List<Reservation> _pending = [];
    private readonly Timer _trim;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _version;

    public MemoryBudget(ServerSettings settings, ILogger<MemoryBudget> logger)
    {
        _settings = settings;
        _logger = logger;
        // A process that grows past the budget between starts is caught here: idle ones are ended.
        _trim = new Timer(_ => Trim(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public long LimitBytes => _settings.Config.MemoryBudgetMb is { } mb
        ? mb * MiB
        : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 3;

    public void AddOwner(ICliProcessOwner owner)
    {
        lock (_lock)
        {
            _owners.Add(owner);
        }
    }

    /// <summary>Wakes turns waiting for room (a turn ended, a process exited).</summary>
    public void Changed()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The CLI processes with their measured memory, for /health.</summary>
    public MemoryStatus Status()
    {
        var (entries, rss) = Measure();
        var processes = entries.Select(e => new CliProcessStatus(e.Entry.Pid, e.Entry.Cli, e.Entry.Role, Math.Round(e.Rss / (double)MiB, 1))).ToList();
        return new MemoryStatus(LimitBytes / MiB, Math.Round(rss / (double)MiB, 1), processes);
    }

    /// <summary>Room for one more process of <paramref name="cli"/> now, without ending anything (warm spares), or null.</summary>
    public IDisposable? TryReserve(string cli) => TryReserve(cli, mayEvict: false, out _);

    /// <summary>
    /// Room for one more process of <paramref name="cli"/>, ending idle processes if needed and
    /// waiting up to <paramref name="wait"/> for busy ones to finish. Null when it did not fit in time.
    /// The reservation ends when the provider reports the start (<see cref="Started"/>) or is disposed.
    /// </summary>
    public async Task<IDisposable?> ReserveAsync(string cli, TimeSpan wait, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var logged = false;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
            }
            if (TryReserve(cli, mayEvict: true, out var used) is { } reservation)
            {
                return reservation;
            }
            if (!logged)
            {
                logged = true;
                LogWaiting(_logger, cli, used / MiB, LimitBytes / MiB);
            }
            var left = wait - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                return null;
            }
            // Busy processes give nothing back until their turn ends (Changed); a process can also exit on its own.
            await Task.WhenAny(changed, Task.Delay(Min(left, TimeSpan.FromMilliseconds(250)), cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>A process of <paramref name="cli"/> has started and is now listed by its owner: the oldest reservation for it is used up.</summary>
    public void Started(string cli)
    {
        Reservation? oldest;
        lock (_lock)
        {
            oldest = _pending.Find(r => r.Cli == cli);
        }
        oldest?.Dispose();
    }

    private Reservation? TryReserve(string cli, bool mayEvict, out long used)
    {
        var ended = new HashSet<int>();
        while (true)
        {
            long version;
            lock (_lock)
            {
                version = _version;
            }
            var (entries, _) = Measure();
            var limit = LimitBytes;
            var size = ExpectedSize(cli, entries);
            lock (_lock)
            {
                if (version != _version)
                {
                    // A reservation turned into a process after our measurement: measure again.
                    continue;
                }
                used = Used(entries);
                // Alone, a process always starts: a budget smaller than one CLI must not refuse every turn.
                if (used + size <= limit || (entries.Count == 0 && _pending.Count == 0))
                {
                    var reservation = new Reservation(this, cli);
                    _pending.Add(reservation);
                    return reservation;
                }
            }
            if (!mayEvict || !EndOneIdle(entries, ended))
            {
                return null;
            }
        }
    }

    /// <summary>Ends a spare if there is one, else the idle session used longest ago. False when none is idle.</summary>
    private bool EndOneIdle(List<(ICliProcessOwner Owner, CliProcessEntry Entry, long Rss)> entries, HashSet<int> ended)
    {
        var candidates = entries
            .Where(e => e.Entry.Idle && !ended.Contains(e.Entry.Pid))
            .OrderBy(e => e.Entry.Role == "spare" ? 0 : 1)
            .ThenBy(e => e.Entry.LastUsed);
        foreach (var (owner, entry, rss) in candidates)
        {
            ended.Add(entry.Pid);
            if (owner.EndIdle(entry.Pid))
            {
                LogEnded(_logger, entry.Cli, entry.Role, entry.Pid, rss / MiB, LimitBytes / MiB);
                return true;
            }
        }
        return false;
    }

    private void Trim()
    {
        try
        {
            var ended = new HashSet<int>();
            for (var i = 0; i < 64; i++)
            {
                var (entries, _) = Measure();
                long used;
                lock (_lock)
                {
                    used = Used(entries);
                }
                if (used <= LimitBytes || !EndOneIdle(entries, ended))
                {
                    return;
                }
                Changed();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            LogTrimFailed(_logger, e.Message);
        }
    }

    /// <summary>What the processes hold plus what the reserved ones will; the caller holds the lock.</summary>
    private long Used(List<(ICliProcessOwner Owner, CliProcessEntry Entry, long Rss)> entries) =>
        entries.Sum(e => Stopwatch.GetElapsedTime(e.Entry.StartedAt) < Young ? Math.Max(e.Rss, ExpectedSize(e.Entry.Cli, entries)) : e.Rss)
        + _pending.Sum(r => ExpectedSize(r.Cli, entries));

    /// <summary>The largest measured process of that CLI that has had time to load, else a default.</summary>
    private static long ExpectedSize(string cli, List<(ICliProcessOwner Owner, CliProcessEntry Entry, long Rss)> entries)
    {
        var grown = entries.Where(e => e.Entry.Cli == cli && Stopwatch.GetElapsedTime(e.Entry.StartedAt) >= Young).Select(e => e.Rss).DefaultIfEmpty(0).Max();
        return grown > 0 ? grown : DefaultSize.GetValueOrDefault(cli, 200 * MiB);
    }

    private (List<(ICliProcessOwner Owner, CliProcessEntry Entry, long Rss)> Entries, long Total) Measure()
    {
        ICliProcessOwner[] owners;
        lock (_lock)
        {
            owners = [.. _owners];
        }
        var list = new List<(ICliProcessOwner, CliProcessEntry, long)>();
        var total = 0L;
        foreach (var owner in owners)
        {
            foreach (var entry in owner.CliProcesses())
            {
                var rss = TreeRss(entry.Pid);
                total += rss;
                list.Add((owner, entry, rss));
            }
        }
        return (list, total);
    }

    /// <summary>
    /// Resident memory of a process and its descendants, in bytes: VmRSS from /proc on Linux (the
    /// codex npm wrapper is node running the native codex as its child); elsewhere the working set
    /// of the process itself.
    /// </summary>
    public static long TreeRss(int pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                return process.WorkingSet64;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                return 0;
            }
        }
        var total = 0L;
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(pid);
        while (stack.Count > 0 && seen.Count < 1000)
        {
            var next = stack.Pop();
            if (!seen.Add(next))
            {
                continue;
            }
            total += LinuxRss(next);
            foreach (var child in LinuxChildren(next))
            {
                stack.Push(child);
            }
        }
        return total;
    }

    private static long LinuxRss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.TryParse(kb, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v * 1024 : 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // It ended while we looked.
        }
        return 0;
    }

    /// <summary>The children of a process on Linux (every thread's list: a child belongs to the thread that forked it).</summary>
    private static List<int> LinuxChildren(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                foreach (var id in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var child))
                    {
                        children.Add(child);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return children;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    public void Dispose() => _trim.Dispose();

    private sealed class Reservation(MemoryBudget budget, string cli) : IDisposable
    {
        public string Cli { get; } = cli;

        public void Dispose()
        {
            lock (budget._lock)
            {
                if (budget._pending.Remove(this))
                {
                    // Whoever measured while it was pending must measure again: its process may now be listed.
                    budget._version++;
                }
            }
            budget.Changed();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A {Cli} process waits for memory: {Used} MB of the {Budget} MB budget in use, nothing idle to end")]
    private static partial void LogWaiting(ILogger logger, string cli, long used, long budget);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ended idle {Cli} {Role} {Pid} ({Rss} MB) to stay within the {Budget} MB memory budget")]
    private static partial void LogEnded(ILogger logger, string cli, string role, int pid, long rss, long budget);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Checking the memory budget failed: {Reason}")]
    private static partial void LogTrimFailed(ILogger logger, string reason);
}
