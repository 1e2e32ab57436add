using System.Text;
using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Providers;

public sealed class ClaudeProtocolTests
{
    /// <summary>Hands out at most N bytes per read, like a pipe under load.</summary>
    private sealed class TrickleStream(byte[] data, int perRead) : Stream
    {
        private int _position;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, perRead), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

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

    private static async Task<List<string>> ReadAll(byte[] data, int perRead, int cap)
    {
        var reader = new JsonLineReader(new TrickleStream(data, perRead), cap);
        var lines = new List<string>();
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
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
    public async Task Lines_and_multibyte_characters_survive_any_read_size(int perRead)
    {
        var text = "{\"t\":\"日本語 😀 ü\"}\r\n{\"t\":\"второй\"}\n\nlast without newline 🎉";
        var lines = await ReadAll(Encoding.UTF8.GetBytes(text), perRead, 1024);
        Assert.Equal(["{\"t\":\"日本語 😀 ü\"}", "{\"t\":\"второй\"}", "", "last without newline 🎉"], lines);
    }

    [Fact]
    public async Task A_line_over_the_cap_is_skipped_and_the_next_one_read()
    {
        var data = Encoding.UTF8.GetBytes("first\n" + new string('x', 10_000) + "\nafter\n");
        var reader = new JsonLineReader(new TrickleStream(data, 700), 4096);
        var lines = new List<string>();
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            lines.Add(Encoding.UTF8.GetString(line.Span));
        }
        Assert.Equal(["first", "after"], lines);
        Assert.Equal(1, reader.SkippedLines);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"no\":\"type\"}")]
    [InlineData("{\"type\":")]
    public void Garbage_lines_parse_to_null(string line) =>
        Assert.Null(ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(line)));

    [Fact]
    public void Result_maps_usage_stop_reason_and_error_status()
    {
        var line = ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(
            """{"stop_reason":"max_tokens","usage":{"input_tokens":5,"cache_read_input_tokens":7,"cache_creation_input_tokens":1,"output_tokens":9},"is_error":true,"api_error_status":529,"result":"Overloaded","type":"result","subtype":"success"}"""))!;
        Assert.Equal(ClaudeLineKind.Result, line.Kind);
        Assert.Equal(new TokenUsage(13, 9, 7), line.Usage);
        Assert.True(line.IsError);
        Assert.Equal(529, line.ErrorStatus);
        Assert.Equal("max_tokens", line.StopReason);
        Assert.Equal("Overloaded", line.Text);
    }

    [Fact]
    public void Null_numbers_do_not_break_parsing()
    {
        var result = ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(
            """{"type":"result","usage":{"input_tokens":null,"output_tokens":3},"api_error_status":null,"num_turns":null,"is_error":false}"""))!;
        Assert.Equal(new TokenUsage(0, 3), result.Usage);
        Assert.Null(result.ErrorStatus);
        var retry = ClaudeProtocol.Parse(Encoding.UTF8.GetBytes("""{"type":"system","subtype":"api_retry","error_status":null,"error":"overloaded"}"""))!;
        Assert.Equal(ClaudeLineKind.ApiRetry, retry.Kind);
        Assert.Null(retry.ErrorStatus);
    }

    [Fact]
    public void User_line_is_one_json_line()
    {
        var bytes = ClaudeProtocol.UserLine([TurnMessage.User("a\nb \"q\" 日本")]);
        Assert.Equal((byte)'\n', bytes[^1]);
        Assert.Equal(1, bytes.Count(b => b == (byte)'\n'));
        Assert.Equal("""{"type":"user","message":{"role":"user","content":[{"type":"text","text":"a\nb \u0022q\u0022 \u65E5\u672C"}]}}""" + "\n", Encoding.UTF8.GetString(bytes));
    }
}
