using System.Text.Json;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>App-server notifications (as codex and fake-codex.mjs send them) into provider events: no process.</summary>
public sealed class CodexTurnDecoderTests
{
    private const string ThreadId = "thread-1";
    private const string TurnId = "turn-1";

    private static CodexTurnUpdate Decode(CodexTurnDecoder decoder, string method, string parameters)
    {
        using var doc = JsonDocument.Parse($$"""{"method":"{{method}}","params":{{parameters}}}""");
        return decoder.Decode(doc.RootElement.Clone());
    }

    private static CodexTurnUpdate Decode(string method, string parameters) => Decode(new CodexTurnDecoder(ThreadId, TurnId), method, parameters);

    [Fact]
    public void A_text_delta_is_text_for_the_caller()
    {
        var update = Decode("item/agentMessage/delta", """{"threadId":"thread-1","turnId":"turn-1","itemId":"msg_1","delta":"Hello"}""");
        Assert.Equal([new TextDelta("Hello")], update.Events);
        Assert.Equal(CodexTurnOutcome.Running, update.Outcome);
        Assert.Null(update.Error);
    }

    [Fact]
    public void A_notification_of_another_turn_is_ignored()
    {
        var update = Decode("item/agentMessage/delta", """{"threadId":"thread-1","turnId":"some-old-turn","itemId":"x","delta":"LEAK"}""");
        Assert.Empty(update.Events);

        var completed = Decode("turn/completed", """{"threadId":"thread-1","turn":{"id":"turn-0","status":"completed","items":[]}}""");
        Assert.Empty(completed.Events);
        Assert.Equal(CodexTurnOutcome.Running, completed.Outcome);
    }

    [Theory]
    [InlineData("item/reasoning/summaryTextDelta")]
    [InlineData("item/reasoning/textDelta")]
    public void Reasoning_is_a_reasoning_delta(string method)
    {
        var update = Decode(method, """{"threadId":"thread-1","turnId":"turn-1","itemId":"rs_1","delta":"thinking...","summaryIndex":0}""");
        Assert.Equal([new ReasoningDelta("thinking...")], update.Events);
    }

    [Fact]
    public void A_message_that_arrives_whole_reaches_the_caller_once()
    {
        var decoder = new CodexTurnDecoder(ThreadId, TurnId);
        var whole = Decode(decoder, "item/completed", """{"threadId":"thread-1","turnId":"turn-1","item":{"type":"agentMessage","id":"msg_9","text":"arrived whole"}}""");
        Assert.Equal([CliActivity.Instance, new TextDelta("arrived whole")], whole.Events);

        // Streamed as deltas first: the completed item only shows the model at work.
        Decode(decoder, "item/agentMessage/delta", """{"threadId":"thread-1","turnId":"turn-1","itemId":"msg_1","delta":"Hello"}""");
        var after = Decode(decoder, "item/completed", """{"threadId":"thread-1","turnId":"turn-1","item":{"type":"agentMessage","id":"msg_1","text":"Hello"}}""");
        Assert.Equal([CliActivity.Instance], after.Events);
    }

    [Fact]
    public void The_echo_of_our_own_message_is_not_activity()
    {
        Assert.Empty(Decode("item/completed", """{"threadId":"thread-1","turnId":"turn-1","item":{"type":"userMessage","id":"u1"}}""").Events);
        Assert.Empty(Decode("item/started", """{"threadId":"thread-1","turnId":"turn-1","item":{"type":"userMessage","id":"u1"}}""").Events);
        Assert.Empty(Decode("turn/started", """{"threadId":"thread-1","turnId":"turn-1","turn":{"id":"turn-1","status":"inProgress","items":[]}}""").Events);
    }

    [Theory]
    [InlineData("item/started", """{"threadId":"thread-1","turnId":"turn-1","item":{"type":"reasoning","id":"rs_1"}}""")]
    [InlineData("item/commandExecution/outputDelta", """{"threadId":"thread-1","turnId":"turn-1","itemId":"cmd_1","delta":"ls"}""")]
    public void The_model_at_work_is_activity(string method, string parameters) =>
        Assert.Equal([CliActivity.Instance], Decode(method, parameters).Events);

    [Fact]
    public void An_unknown_notification_means_nothing()
    {
        var update = Decode("configWarning", """{"summary":"fake warning","details":null}""");
        Assert.Empty(update.Events);
        Assert.Equal(CodexTurnOutcome.Running, update.Outcome);
    }

    [Fact]
    public void Token_usage_reports_the_last_turns_counts()
    {
        var update = Decode("thread/tokenUsage/updated", """
            {"threadId":"thread-1","turnId":"turn-1","tokenUsage":{
              "total":{"inputTokens":100,"outputTokens":50,"cachedInputTokens":10,"reasoningOutputTokens":5,"totalTokens":150},
              "last":{"inputTokens":12,"outputTokens":4,"cachedInputTokens":3,"reasoningOutputTokens":1,"totalTokens":16}}}
            """);
        var usage = Assert.IsType<UsageReport>(Assert.Single(update.Events)).Usage;
        Assert.Equal(new TokenUsage(12, 4, 3, 1), usage);
    }

    [Fact]
    public void A_completed_turn_ends_with_stop_and_the_thread_as_session()
    {
        var update = Decode("turn/completed", """{"threadId":"thread-1","turnId":"turn-1","turn":{"id":"turn-1","status":"completed","items":[]}}""");
        Assert.Equal([new TurnEnded(TurnEndReason.Stop, ThreadId)], update.Events);
        Assert.Equal(CodexTurnOutcome.Ended, update.Outcome);
    }

    [Theory]
    [InlineData("""{"message":"The model `gpt-9-nope` does not exist or you do not have access to it.","codexErrorInfo":"modelNotFound","additionalDetails":null}""", ProviderErrorKind.ModelNotFound)]
    [InlineData("""{"message":"unexpected status 500 Internal Server Error","codexErrorInfo":{"responseTooManyFailedAttempts":{"httpStatusCode":500}},"additionalDetails":null}""", ProviderErrorKind.Upstream)]
    [InlineData("""{"message":"too long","codexErrorInfo":"contextWindowExceeded","additionalDetails":null}""", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData("""{"message":"bad","codexErrorInfo":"badRequest","additionalDetails":null}""", ProviderErrorKind.InvalidRequest)]
    public void A_failed_turn_ends_with_its_classified_error(string error, ProviderErrorKind kind)
    {
        var update = Decode("turn/completed", $$$"""{"threadId":"thread-1","turnId":"turn-1","turn":{"id":"turn-1","status":"failed","items":[],"error":{{{error}}}}}""");
        var failed = TurnEvents.Failure(Assert.Single(update.Events));
        Assert.Equal(kind, failed.Kind);
        Assert.Equal(CodexTurnOutcome.Ended, update.Outcome);
    }

    [Fact]
    public void A_turn_that_ends_otherwise_without_an_error_fails_as_upstream()
    {
        var update = Decode("turn/completed", """{"threadId":"thread-1","turnId":"turn-1","turn":{"id":"turn-1","status":"interrupted","items":[],"error":null}}""");
        var failed = TurnEvents.Failure(Assert.Single(update.Events));
        Assert.Equal(ProviderErrorKind.Upstream, failed.Kind);
        Assert.Contains("interrupted", failed.Message);
    }

    [Fact]
    public void An_error_codex_retries_gives_the_turn_up_with_what_the_upstream_answered()
    {
        // By its first retry notice codex has retried the request itself (issue 14): the caller hears now, not ~25 s later.
        var update = Decode("error", """{"threadId":"thread-1","turnId":"turn-1","error":{"message":"unexpected status 500 Internal Server Error","codexErrorInfo":{"responseTooManyFailedAttempts":{"httpStatusCode":500}},"additionalDetails":null},"willRetry":true}""");
        Assert.Equal(CliActivity.Instance, update.Events[0]);
        Assert.Equal(CodexTurnOutcome.Refused, update.Outcome);
        var failed = TurnEvents.Failure(update.Events[^1]);
        Assert.Equal(ProviderErrorKind.Upstream, failed.Kind);
        Assert.Contains("upstream answered 500", failed.Message);
        Assert.True(failed.AlreadyRetried);
        Assert.Equal("unexpected status 500 Internal Server Error", update.Error);
        Assert.True(update.WillRetry);
    }

    [Fact]
    public void A_refused_credential_fails_the_turn_at_once_and_asks_for_an_interrupt()
    {
        var update = Decode("error", """{"threadId":"thread-1","turnId":"turn-1","error":{"message":"Reconnecting... 1/5","codexErrorInfo":{"responseStreamDisconnected":{"httpStatusCode":401}},"additionalDetails":"unexpected status 401 Unauthorized"},"willRetry":true}""");
        Assert.Equal(CodexTurnOutcome.Refused, update.Outcome);
        Assert.Equal(CliActivity.Instance, update.Events[0]);
        var failed = TurnEvents.Failure(update.Events[^1]);
        Assert.Equal(ProviderErrorKind.NotAuthenticated, failed.Kind);
        Assert.Contains("401 Unauthorized", failed.Message);
        Assert.Equal("Reconnecting... 1/5", update.Error);
    }
}
