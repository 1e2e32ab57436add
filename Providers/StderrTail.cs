using System.Text;

namespace CodexApiServer.Providers;

/// <summary>
/// Drains a child's stderr so the pipe never fills and blocks it, hands each line to the caller's
/// logger, and keeps the last few lines to explain a failure.
/// </summary>
public sealed class StderrTail
{
    private const int KeptLines = 5;
    private const int KeptChars = 300;
    private readonly Queue<string> _lines = new();

    /// <summary>Reads to the end of the stream; never throws for a pipe that breaks.</summary>
    public async Task DrainAsync(Stream stderr, Action<string> log)
    {
        var reader = new Utf8LineReader(stderr, 64 * 1024);
        try
        {
            while (await reader.ReadLineAsync(_ => { }, CancellationToken.None) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }
                var text = Encoding.UTF8.GetString(line.Span);
                log(text);
                lock (_lines)
                {
                    _lines.Enqueue(text.Length > KeptChars ? text[..KeptChars] : text);
                    if (_lines.Count > KeptLines)
                    {
                        _lines.Dequeue();
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process went away: what was read is what there is.
        }
    }

    /// <summary>The last lines, joined with " | ".</summary>
    public override string ToString()
    {
        lock (_lines)
        {
            return string.Join(" | ", _lines);
        }
    }
}
