using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

/// <summary>
/// Real third-party clients (Vercel AI SDK, LangChain), unchanged, against the server with a scripted
/// provider: each script asserts what its library returned and prints it, and these tests check
/// the printout against the script the provider played.
/// </summary>
public sealed class ClientLibrariesTests
{
    // Multi-byte text split across deltas, including a ZWJ emoji sequence cut between two deltas,
    // so a client that decodes or joins per chunk badly shows it.
    private static readonly string[] Deltas = ["こんにちは", "、世界！", " Hello 👋🏽", " 家族: 👨‍👩", "‍👧 ", "done."];
    private static readonly string ExpectedText = string.Concat(Deltas);
    private const string Reasoning = "Greeting in two languages 🤔.";
    // What the provider answers when the request carries an output schema, in pieces that split words and an emoji's neighbours.
    private static readonly string[] StructuredDeltas = ["{\"greeting\":\"こんに", "ちは 👋\",\"lang", "uage\":\"ja\"}"];
    private static readonly TokenUsage Usage = new(InputTokens: 1234, OutputTokens: 56, CachedInputTokens: 1000, ReasoningTokens: 7);

    [Fact]
    public async Task Vercel_ai_sdk_generates_and_streams_over_responses_and_chat()
    {
        var (fake, output) = await RunAsync("vercel-check.mjs");

        Assert.Contains("9/9 checks passed", output);
        var saw = Saw(output);
        Assert.Equal(
            ["responses generateText", "responses streamText", "chat generateText", "chat streamText", "responses reasoning summary streamText",
             "responses multi-turn generateText", "chat multi-turn generateText", "responses structured output", "chat structured output"],
            saw.Select(s => s["check"]!.GetValue<string>()));
        foreach (var s in saw.Where(s => s["object"] is null))
        {
            Assert.Equal(ExpectedText, s["text"]!.GetValue<string>());
            Assert.Equal("stop", s["finishReason"]!.GetValue<string>());
            AssertUsage(s["usage"]!);
        }
        AssertStructured(saw, fake, 2);
        Assert.Equal(11, fake.Requests.Count);
        AssertTurns(fake);
    }

    [Fact]
    public async Task Langchain_chat_openai_invokes_and_streams_over_chat_and_responses()
    {
        var (fake, output) = await RunAsync("langchain-check.mjs");

        Assert.Contains("11/11 checks passed", output);
        var saw = Saw(output);
        Assert.Equal(["chat invoke", "chat stream", "chat stream streamUsage", "responses invoke", "responses stream",
             "responses reasoning summary invoke", "chat multi-turn invoke", "responses multi-turn invoke", "codex model default stream",
             "chat withStructuredOutput", "responses withStructuredOutput"], saw.Select(s => s["check"]!.GetValue<string>()));
        AssertStructured(saw, fake, 2);
        foreach (var s in saw.Where(s => s["object"] is null))
        {
            Assert.Equal(ExpectedText, s["text"]!.GetValue<string>());
            if (s["check"]!.GetValue<string>() == "chat stream")
            {
                Assert.Null(s["usage"]); // streamUsage: false
            }
            else
            {
                AssertUsage(s["usage"]!);
            }
        }
        Assert.Equal(
            ["gpt-5.2", "gpt-5.2", "gpt-5.2", "gpt-5.2-codex", "gpt-5.2-codex", "gpt-5.2-codex", "gpt-5.2", "gpt-5.2", "gpt-5.2-codex", "gpt-5.2-codex", "gpt-5.2-codex", "gpt-5.2", "gpt-5.2-codex"],
            fake.Requests.Select(r => r.Model.Id));
        Assert.All(fake.Requests, r => Assert.Equal("Be brief.", r.Instructions));
        AssertTurns(fake);
    }

    private static async Task<(FakeProvider Fake, string Output)> RunAsync(string script)
    {
        var fake = new FakeProvider().Then(Play);
        await using var server = await ApiServer.StartAsync(fake);
        var expected = new JsonObject
        {
            ["text"] = ExpectedText,
            ["reasoning"] = Reasoning,
            ["object"] = JsonNode.Parse(string.Concat(StructuredDeltas)),
            ["usage"] = new JsonObject
            {
                ["input"] = Usage.InputTokens,
                ["output"] = Usage.OutputTokens,
                ["cached"] = Usage.CachedInputTokens,
                ["reasoning"] = Usage.ReasoningTokens,
            },
        };
        var (exitCode, output) = await NodeScript.RunAsync(script, [server.BaseAddress.ToString(), expected.ToJsonString()], TimeSpan.FromSeconds(120));
        NodeScript.AssertPassed(exitCode, output, script);
        return (fake, output);
    }

    private static List<JsonNode> Saw(string output) =>
        output.Split('\n').Where(l => l.StartsWith("SAW ", StringComparison.Ordinal)).Select(l => JsonNode.Parse(l[4..])!).ToList();

    private static void AssertUsage(JsonNode usage)
    {
        Assert.Equal(Usage.InputTokens, usage["input"]!.GetValue<long>());
        Assert.Equal(Usage.OutputTokens, usage["output"]!.GetValue<long>());
        Assert.Equal(Usage.TotalTokens, usage["total"]!.GetValue<long>());
        Assert.Equal(Usage.CachedInputTokens, usage["cached"]!.GetValue<long>());
        Assert.Equal(Usage.ReasoningTokens, usage["reasoning"]!.GetValue<long>());
    }

    /// <summary>The structured checks got the parsed object, and the schema the client sent reached the provider.</summary>
    private static void AssertStructured(List<JsonNode> saw, FakeProvider fake, int count)
    {
        var objects = saw.Where(s => s["object"] is not null).Select(s => s["object"]!).ToList();
        Assert.Equal(count, objects.Count);
        Assert.All(objects, o => Assert.True(JsonNode.DeepEquals(JsonNode.Parse(string.Concat(StructuredDeltas)), o), o.ToJsonString()));
        var schemas = fake.Requests.Where(r => r.OutputSchema is not null).Select(r => r.OutputSchema!.Value).ToList();
        Assert.Equal(count, schemas.Count);
        Assert.All(schemas, schema => Assert.Equal(["greeting", "language"], schema.GetProperty("required").EnumerateArray().Select(e => e.GetString())));
    }

    /// <summary>Every turn asked the prompt; a second turn ("Once more") either continues the first one's session or carries its answer.</summary>
    private static void AssertTurns(FakeProvider fake)
    {
        var seconds = 0;
        foreach (var request in fake.Requests)
        {
            var last = LastUserText(request);
            if (last == "Once more, please.")
            {
                seconds++;
                Assert.True(
                    request.SessionId is not null || request.Messages.Any(m => m.Role == "assistant" && m.Parts.OfType<TextPart>().Any(p => p.Text == ExpectedText)),
                    "the second turn lost the first answer");
            }
            else
            {
                Assert.Equal("Say hello in Japanese.", last);
            }
        }
        Assert.Equal(2, seconds);
    }

    private static string LastUserText(TurnRequest request) =>
        string.Concat(request.Messages.Last(m => m.Role == "user").Parts.OfType<TextPart>().Select(p => p.Text));

    private static async IAsyncEnumerable<TurnEvent> Play(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return new ReasoningDelta(Reasoning[..9]);
        yield return new ReasoningDelta(Reasoning[9..]);
        foreach (var delta in request.OutputSchema is null ? Deltas : StructuredDeltas)
        {
            // A real gap between deltas, so each reaches the client in its own write.
            await Task.Delay(5, cancellationToken);
            yield return new TextDelta(delta);
        }
        yield return new UsageReport(Usage);
        yield return new TurnEnded(TurnEndReason.Stop, request.SessionId ?? "sess-" + Guid.NewGuid().ToString("N"));
    }
}
