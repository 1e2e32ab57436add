using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// The Anthropic Messages front door (issue 13) as real Anthropic clients use it, through our server
/// and the real CLIs to the mock model servers: the official @anthropic-ai/sdk and the Vercel AI SDK's
/// @ai-sdk/anthropic, each run by a tests/node/anthropic-*-check.mjs script. Here we also check what
/// reached the mock upstream: every tool output as a tool result (in a request that declared the
/// client's tools), the image, and nothing of a refused request.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class MessagesClientsEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private static readonly string[] ToolNames = ["get_weather", "get_time"];

    /// <summary>The text in a prompt that makes the mocks reason first (THINK_MARKER in the scripts).</summary>
    private const string ThinkMarker = "[think first]";

    /// <summary>What the mocks reason, in pieces: a Claude thinking block, a codex reasoning summary.</summary>
    private static readonly string[] Thinking = ["Let me think", ": a greeting", " is due 🤔"];

    /// <summary>The PNG of tests/node/anthropic.mjs, base64.</summary>
    private const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR42mP4z8DAAMIM/4EAAB/uBfvxq7p3AAAAAElFTkSuQmCC";

    /// <summary>
    /// messages.create (with system blocks, sampling and a follow-up), messages.stream() with its text
    /// events and finalMessage(), raw stream events, a tool-use loop plain and streamed (inputJson), an
    /// image, thinking, countTokens, models.list/retrieve, NotFoundError and BadRequestError.
    /// </summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task The_anthropic_sdk_creates_streams_and_runs_tools_over_messages(string model)
    {
        var before = Upstream.Count(stack, model);
        MocksThinkWhenAsked();
        string text;
        try
        {
            text = await RunAsync("anthropic-sdk-check.mjs", model, checks: 12, stack.Server, [string.Concat(Thinking)]);
        }
        finally
        {
            ResetMocks();
        }

        Upstream.AssertToolRunsReached(stack, model, before, text, ToolNames);
        var images = Upstream.RequestsSince(stack, model, before).Where(r => JsonStrings.In(r).Any(s => s.Contains(Png, StringComparison.Ordinal))).ToList();
        Assert.True(images.Count > 0, "no model request carried the image's bytes");
    }

    /// <summary>
    /// AuthenticationError for a wrong key or none from outside (the master key works there, as Bearer
    /// and as x-api-key), RateLimitError from a server with one turn slot and no queue while a slow turn runs.
    /// </summary>
    [Theory(Timeout = 120_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task The_anthropic_sdk_raises_its_error_classes_for_keys_and_limits(string model)
    {
        await using var limited = await stack.StartServerAsync(extraConfig: """{"maxConcurrentTurns": 1, "queueTimeoutSeconds": 0}""");
        var masterKey = stack.Server.App.Services.GetRequiredService<ServerSettings>().Config.MasterKey!;
        var before = Upstream.Count(stack, model);
        try
        {
            ResetMocks();
            stack.CodexUpstream.DeltaDelay = TimeSpan.FromMilliseconds(700);
            stack.ClaudeUpstream.Reply = _ => RealStackFixture.Claude(RealStackFixture.Chunks) with { ChunkDelay = TimeSpan.FromMilliseconds(700) };

            await RunAsync("anthropic-errors-check.mjs", model, checks: 4, stack.Server, [masterKey, limited.Client.BaseAddress!.ToString()]);
        }
        finally
        {
            ResetMocks();
        }

        // The slow turn reached the model; the refused ones did not.
        var users = Enumerable.Range(before, Upstream.Count(stack, model) - before).SelectMany(i => Upstream.UserTexts(stack, model, i)).ToList();
        Assert.Contains(users, u => u.Contains("slow", StringComparison.Ordinal));
        Assert.DoesNotContain(users, u => u.Contains("overflow", StringComparison.Ordinal));
    }

    /// <summary>generateText and streamText (also with thinking), and executed tools over several steps with stopWhen.</summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public async Task The_vercel_ai_sdk_anthropic_provider_generates_streams_and_runs_tools(string model)
    {
        var before = Upstream.Count(stack, model);
        MocksThinkWhenAsked();
        string text;
        try
        {
            text = await RunAsync("anthropic-vercel-check.mjs", model, checks: 5, stack.Server, [string.Concat(Thinking)]);
        }
        finally
        {
            ResetMocks();
        }

        Upstream.AssertToolRunsReached(stack, model, before, text, ToolNames);
    }

    /// <summary>Runs a script with the server's URL, the model, the mocks' answer and usage and <paramref name="more"/>; its output.</summary>
    private async Task<string> RunAsync(string script, string model, int checks, RealStackServer server, string[] more)
    {
        var usage = RealStackFixture.UsageOf(model);
        var path = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(RealClis.NodeModulesBin))!, script);
        string[] args =
        [
            server.Client.BaseAddress!.ToString(), model, RealStackFixture.Text,
            $"{usage.Prompt}", $"{usage.Completion}", $"{usage.Cached}", .. more,
        ];
        var (exitCode, text) = await NodeScript.RunAsync(path, args, TimeSpan.FromSeconds(220));

        output.WriteLine(text);
        NodeScript.AssertPassed(exitCode, text, script);
        Assert.Contains($"{checks}/{checks} checks passed", text);
        return text;
    }

    /// <summary>The mocks' usual answer, reasoning first (<see cref="Thinking"/>) when the prompt has <see cref="ThinkMarker"/>.</summary>
    private void MocksThinkWhenAsked()
    {
        stack.ResetMocks();
        stack.ClaudeUpstream.Reply = r => RealStackFixture.Claude(RealStackFixture.Chunks) with
        {
            Thinking = r.Body.Contains(ThinkMarker, StringComparison.Ordinal) ? Thinking : null,
        };
        stack.CodexUpstream.Reasoning = body => JsonStrings.In(body).Any(s => s.Contains(ThinkMarker, StringComparison.Ordinal)) ? Thinking : null;
    }

    private void ResetMocks()
    {
        stack.CodexUpstream.Reasoning = null;
        stack.ResetMocks();
    }
}
