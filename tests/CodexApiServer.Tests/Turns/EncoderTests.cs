using System.Text.Json;
using CodexApiServer.Endpoints;
using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Turns;

/// <summary>An encoder that is never given a stream only folds: that is each API's non-streaming answer.</summary>
public sealed class EncoderTests
{
    private static readonly TokenUsage Usage = new(12, 3, CachedInputTokens: 4, ReasoningTokens: 1);

    [Fact]
    public async Task A_chat_turn_folds_into_one_completion_with_its_finish_reason_and_usage()
    {
        var encoder = new ChatCompletionEncoder("chatcmpl-1", 1, "gpt-5.2-codex", includeUsage: true);
        await encoder.ReasoningAsync("hmm");
        await encoder.TextAsync("Hello");
        await encoder.TextAsync(" world");
        await encoder.EndAsync(new TurnEnded(TurnEndReason.Timeout, "s", Usage), null);
        var choice = Assert.Single(encoder.Completion!.Choices);
        Assert.Equal("Hello world", choice.Message.Content);
        Assert.Equal("hmm", choice.Message.ReasoningContent);
        Assert.Equal("length", choice.FinishReason);
        Assert.Equal((12, 3, 15, 4, 1), (encoder.Completion.Usage.PromptTokens, encoder.Completion.Usage.CompletionTokens, encoder.Completion.Usage.TotalTokens,
            encoder.Completion.Usage.PromptTokensDetails.CachedTokens, encoder.Completion.Usage.CompletionTokensDetails.ReasoningTokens));
    }

    [Theory]
    [InlineData(TurnEndReason.Cancelled)]
    [InlineData(TurnEndReason.Failed)]
    public async Task A_chat_turn_without_an_answer_has_no_completion(TurnEndReason reason)
    {
        var encoder = new ChatCompletionEncoder("chatcmpl-1", 1, "gpt-5.2-codex", includeUsage: false);
        await encoder.TextAsync("part");
        await encoder.EndAsync(new TurnEnded(reason), null);
        Assert.Null(encoder.Completion);
    }

    [Fact]
    public async Task A_response_folds_its_reasoning_summary_and_message_in_output_order()
    {
        var encoder = new ResponseEncoder(Start(), summaries: true);
        await encoder.ReasoningAsync("Thinking.");
        await encoder.TextAsync("Hello");
        await encoder.ReasoningAsync("dropped: the answer has begun");
        await encoder.EndAsync(new TurnEnded(TurnEndReason.Stop, "s", Usage), null);
        var r = encoder.Response;
        Assert.Equal("completed", r.Status);
        Assert.NotNull(r.CompletedAt);
        Assert.Equal(["reasoning", "message"], r.Output.Select(o => o.Type));
        Assert.Equal("Thinking.", Assert.Single(r.Output[0].Summary!).Text);
        Assert.Equal("Hello", r.OutputText);
        Assert.Equal(["rs_abc_o0", "msg_abc_o1"], r.Output.Select(o => o.Id));
        Assert.Equal(15, r.Usage!.TotalTokens);
    }

    [Fact]
    public async Task A_failed_response_carries_its_mapped_error_and_a_cut_one_says_why()
    {
        var failed = new ResponseEncoder(Start(), summaries: false);
        var error = ProviderErrors.ToApiError(new ProviderError(ProviderErrorKind.Upstream, "upstream 500"));
        await failed.TextAsync("part");
        await failed.EndAsync(TurnEnded.Failed(new ProviderError(ProviderErrorKind.Upstream, "upstream 500")), error);
        Assert.Equal(("failed", "server_error", "upstream 500"), (failed.Response.Status, failed.Response.Error!.Code, failed.Response.Error.Message));

        var cut = new ResponseEncoder(Start(), summaries: false);
        await cut.TextAsync("part");
        await cut.EndAsync(new TurnEnded(TurnEndReason.Length), null);
        Assert.Equal(("incomplete", "max_output_tokens", "incomplete"), (cut.Response.Status, cut.Response.IncompleteDetails!.Reason, cut.Response.Output[0].Status));
    }

    private static ResponseObject Start() => new(
        "resp_abc", "response", 1, "in_progress", false, null, null, null, null, null, "gpt-5.2-codex", [], "", true, null,
        new ReasoningConfig(null, null), true, 1.0, new TextConfig(JsonDocument.Parse("""{"type":"text"}""").RootElement.Clone()),
        JsonDocument.Parse("\"auto\"").RootElement.Clone(), [], 1.0, "disabled", null, new Dictionary<string, string>(), null);
}
