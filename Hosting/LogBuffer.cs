using System.Threading.Channels;

namespace CodexApiServer.Hosting;

/// <summary>The last log lines in memory, for the admin console's log view and its live tail.</summary>
public sealed class LogBuffer : ILoggerProvider
{
    private const int Capacity = 2000;
    private readonly Queue<LogEntry> _entries = new();
    private readonly List<Channel<LogEntry>> _subscribers = [];
    private readonly Lock _lock = new();
    private long _nextId;

    public IReadOnlyList<LogEntry> Recent(int limit, long afterId = 0)
    {
        lock (_lock)
        {
            return _entries.Where(e => e.Id > afterId).TakeLast(limit).ToList();
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _entries.Clear();
        }
    }

    /// <summary>New lines as they come; the reader is dropped when it cannot keep up, not the server slowed.</summary>
    public ChannelReader<LogEntry> Subscribe(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<LogEntry>(new BoundedChannelOptions(500) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock)
        {
            _subscribers.Add(channel);
        }
        cancellationToken.Register(() =>
        {
            lock (_lock)
            {
                _subscribers.Remove(channel);
            }
            channel.Writer.TryComplete();
        });
        return channel.Reader;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogLevel level, string category, string message)
    {
        lock (_lock)
        {
            var entry = new LogEntry(++_nextId, DateTimeOffset.UtcNow, level.ToString(), category, message);
            _entries.Enqueue(entry);
            while (_entries.Count > Capacity)
            {
                _entries.Dequeue();
            }
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(entry);
            }
        }
    }

    private sealed class Logger(LogBuffer buffer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        // Information and up, our own categories and warnings from the framework: what the console shows.
        public bool IsEnabled(LogLevel logLevel) =>
            logLevel >= (category.StartsWith("CodexApiServer", StringComparison.Ordinal) ? LogLevel.Information : LogLevel.Warning);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                // Exceptions stay in the console log; the admin view gets the message only.
                buffer.Add(logLevel, category, formatter(state, null));
            }
        }
    }
}
