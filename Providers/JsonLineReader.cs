namespace CodexApiServer.Providers;

/// <summary>
/// Splits a child's stdout into lines of raw bytes. Lines are split on the '\n' byte, which never
/// occurs inside a UTF-8 multi-byte sequence, so a character split across pipe reads stays whole.
/// A line longer than the cap is skipped to its end instead of growing the buffer without bound.
/// </summary>
public sealed class JsonLineReader(Stream stream, int maxLineBytes)
{
    private readonly byte[] _chunk = new byte[64 * 1024];
    private byte[] _line = new byte[64 * 1024];
    private int _lineLength;
    private bool _skipping;
    private int _chunkStart;
    private int _chunkEnd;

    /// <summary>Lines skipped for being longer than the cap.</summary>
    public int SkippedLines { get; private set; }

    /// <summary>The next line without its terminator (a trailing '\r' removed), or null at the end of the stream.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        _lineLength = 0;
        if (_line.Length > 1024 * 1024)
        {
            // One huge line should not pin megabytes for the life of the process.
            _line = new byte[64 * 1024];
        }
        while (true)
        {
            if (_chunkStart == _chunkEnd)
            {
                _chunkStart = 0;
                _chunkEnd = await stream.ReadAsync(_chunk, cancellationToken);
                if (_chunkEnd == 0)
                {
                    if (_lineLength > 0 && !_skipping)
                    {
                        var last = Finish();
                        _lineLength = 0;
                        return last;
                    }
                    return null;
                }
            }
            var span = _chunk.AsSpan(_chunkStart, _chunkEnd - _chunkStart);
            var newline = span.IndexOf((byte)'\n');
            var take = newline < 0 ? span.Length : newline;
            Append(span[..take]);
            _chunkStart += newline < 0 ? take : take + 1;
            if (newline >= 0)
            {
                if (_skipping)
                {
                    _skipping = false;
                    _lineLength = 0;
                    continue;
                }
                return Finish();
            }
        }
    }

    private ReadOnlyMemory<byte> Finish()
    {
        var length = _lineLength;
        if (length > 0 && _line[length - 1] == (byte)'\r')
        {
            length--;
        }
        return _line.AsMemory(0, length);
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_skipping)
        {
            return;
        }
        if (_lineLength + bytes.Length > maxLineBytes)
        {
            _skipping = true;
            SkippedLines++;
            _lineLength = 0;
            return;
        }
        if (_lineLength + bytes.Length > _line.Length)
        {
            Array.Resize(ref _line, Math.Min(maxLineBytes, Math.Max(_line.Length * 2, _lineLength + bytes.Length)));
        }
        bytes.CopyTo(_line.AsSpan(_lineLength));
        _lineLength += bytes.Length;
    }
}
