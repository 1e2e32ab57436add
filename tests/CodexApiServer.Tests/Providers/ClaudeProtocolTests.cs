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

    [Theory]
    // As claude 2.1.331 answers rewind_conversation (seen in the real CLI's output).
    [InlineData("""{"type":"control_response","response":{"subtype":"success","request_id":"rw1","response":{"rewound":true,"targetMessageUuid":"u","prefillText":"hi","precedingAssistantUuid":null}}}""", false, null)]
    [InlineData("""{"type":"control_response","response":{"subtype":"success","request_id":"rw1","response":{"rewound":false,"prefillText":null,"error":"stale target","reason":"stale_target"}}}""", true, "stale target")]
    [InlineData("""{"type":"control_response","response":{"subtype":"error","request_id":"rw1","error":"rewind_conversation: target_message_uuid must be a string"}}""", true, "rewind_conversation: target_message_uuid must be a string")]
    public void A_control_response_names_its_request_and_says_whether_it_failed(string json, bool isError, string? error)
    {
        var line = ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(json))!;
        Assert.Equal(ClaudeLineKind.ControlResponse, line.Kind);
        Assert.Equal("rw1", line.RequestId);
        Assert.Equal(isError, line.IsError);
        Assert.Equal(error, line.Error);
    }

    [Fact]
    public void A_user_line_carries_the_uuid_given_and_a_rewind_names_the_first_and_last_messages()
    {
        var user = Encoding.UTF8.GetString(ClaudeProtocol.UserLine([TurnMessage.User("hi")], uuid: "11111111-1111-1111-1111-111111111111"));
        Assert.StartsWith("""{"type":"user","uuid":"11111111-1111-1111-1111-111111111111","message":""", user, StringComparison.Ordinal);
        Assert.Equal(
            """{"type":"control_request","request_id":"r","request":{"subtype":"rewind_conversation","target_message_uuid":"a","last_seen_user_message_uuid":"b"}}""" + "\n",
            Encoding.UTF8.GetString(ClaudeProtocol.RewindLine("r", "a", "b")));
    }
}
