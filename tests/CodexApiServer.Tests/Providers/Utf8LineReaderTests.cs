using System.Text;
using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Providers;

/// <summary>The line splitter under both CLIs' stdout and stderr, fed in the worst possible chunks.</summary>
public sealed class Utf8LineReaderTests
{
    /// <summary>Hands out at most <c>chunk</c> bytes per read, like a pipe under pressure.</summary>
    private sealed class TricklingStream(byte[] data, int chunk) : Stream
    {
        private int _position;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(chunk, buffer.Length), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static async Task<List<string>> ReadAllAsync(Stream stream, int max, List<long>? skipped = null)
    {
        var reader = new Utf8LineReader(stream, max);
        var lines = new List<string>();
        while (await reader.ReadLineAsync(n => skipped?.Add(n), CancellationToken.None) is { } line)
        {
            lines.Add(Encoding.UTF8.GetString(line.Span));
        }
        return lines;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(4096)]
    public async Task Multibyte_characters_split_across_reads_come_out_whole(int chunk)
    {
        var text = "{\"delta\":\"こんにちは 🌏🎉 ñ\"}\r\n{\"x\":\"😀\"}\n\nlast without newline 日本";
        var lines = await ReadAllAsync(new TricklingStream(Encoding.UTF8.GetBytes(text), chunk), 1024);
        Assert.Equal(["{\"delta\":\"こんにちは 🌏🎉 ñ\"}", "{\"x\":\"😀\"}", "", "last without newline 日本"], lines);
    }

    [Fact]
    public async Task A_line_over_the_cap_is_skipped_whole_and_reported()
    {
        var text = "short\n" + new string('x', 5000) + "\nafter\n";
        var skipped = new List<long>();
        var lines = await ReadAllAsync(new TricklingStream(Encoding.UTF8.GetBytes(text), 700), 1000, skipped);
        Assert.Equal(["short", "after"], lines);
        Assert.Equal([5000L], skipped);
    }
}
