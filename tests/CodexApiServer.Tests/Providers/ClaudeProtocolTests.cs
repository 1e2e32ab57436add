using System.Text;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Tests.Providers;

public sealed class ClaudeProtocolTests
{
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
