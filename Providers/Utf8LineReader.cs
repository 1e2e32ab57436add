using System.Buffers;

namespace CodexApiServer.Providers;

/// <summary>
/// Splits a byte stream into lines on '\n'. Splitting on the byte (not on decoded text) keeps
/// multi-byte UTF-8 characters intact however the pipe chunks them, since 0x0A never occurs inside
/// one. Lines longer than the cap are skipped whole, so one runaway line cannot exhaust memory.
/// </summary>
public sealed class Utf8LineReader(Stream stream, int maxLineBytes)
{
    private readonly byte[] _chunk = new byte[64 * 1024];
    private readonly ArrayBufferWriter<byte> _line = new(4096);
    private int _chunkStart;
    private int _chunkEnd;
    private bool _skipping;
    private bool _eof;

    /// <summary>Bytes of the line being skipped so far; for the warning.</summary>
    public long SkippedBytes { get; private set; }

    /// <summary>
    /// The next line without its terminator ('\r' trimmed too), or null at the end of the stream.
    /// <paramref name="oversized"/> is called once for each line dropped for its length.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(Action<long> oversized, CancellationToken cancellationToken)
    {
        _line.ResetWrittenCount();
        while (true)
        {
            if (_chunkStart == _chunkEnd)
            {
                if (_eof)
                {
                    return null;
                }
                var read = await stream.ReadAsync(_chunk, cancellationToken);
                if (read == 0)
                {
                    _eof = true;
                    // A last line without a terminator still counts.
                    if (_line.WrittenCount > 0 && !_skipping)
                    {
                        return Trim(_line.WrittenMemory);
                    }
                    return null;
                }
                _chunkStart = 0;
                _chunkEnd = read;
            }

            var span = _chunk.AsSpan(_chunkStart, _chunkEnd - _chunkStart);
            var newline = span.IndexOf((byte)'\n');
            var part = newline >= 0 ? span[..newline] : span;
            _chunkStart += newline >= 0 ? newline + 1 : span.Length;

            if (_skipping)
            {
                SkippedBytes += part.Length;
            }
            else if (_line.WrittenCount + part.Length > maxLineBytes)
            {
                _skipping = true;
                SkippedBytes = _line.WrittenCount + part.Length;
                _line.ResetWrittenCount();
            }
            else
            {
                _line.Write(part);
            }

            if (newline >= 0)
            {
                if (_skipping)
                {
                    _skipping = false;
                    oversized(SkippedBytes);
                    SkippedBytes = 0;
                    continue;
                }
                return Trim(_line.WrittenMemory);
            }
        }
    }

    private static ReadOnlyMemory<byte> Trim(ReadOnlyMemory<byte> line) =>
        line.Length > 0 && line.Span[^1] == (byte)'\r' ? line[..^1] : line;
}
