using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// What a subscription backend does that an accepting mock does not (issue 14), through HTTP with the real codex:
/// each test has its own mock and server, since codex's retry settings and the fallback are per process.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class CodexSubscriptionEndToEndTests(ITestOutputHelper output)
{
    private static Task<RealStackServer> StartAsync(MockResponsesUpstream mock) =>
        RealStackServer.StartAsync(null, """{"maxSparesPerModel":0}""", new CodexProviderOptions { Environment = mock.CodexEnvironment() }, new ClaudeProviderOptions());

    [Fact(Timeout = 60_000)]
    public async Task Upstream_5xx_on_every_try_arrives_within_10_seconds_with_no_retry_and_the_status()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        // codex's own defaults (no retry settings in its config): ~25 s of retries on a 500.
        await using var server = await StartAsync(mock);
        mock.FailWithStatus = 500;

        var clock = Stopwatch.StartNew();
        var (response, body) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
        output.WriteLine($"HTTP {(int)response.StatusCode} after {clock.ElapsedMilliseconds} ms, {mock.Requests.Count} upstream requests: {body.ToJsonString()}");

        Assert.Equal(502, (int)response.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.True(mock.Requests.Count >= 2, "codex did not retry");
        Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        var error = ErrorAssert.IsOpenAIError(body, "server_error");
        Assert.Contains("upstream answered 5xx", (string)error["message"]!, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Refused_instructions_fall_back_to_codex_base_instructions_and_health_shows_it()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        mock.RequireCodexInstructions = true;
        await using var server = await StartAsync(mock);

        var (response, body) = await server.PostJsonAsync("/v1/chat/completions",
            Wire.Chat(RealStackFixture.CodexModel, false, ("system", "Answer like a pirate."), ("user", "hi")));
        output.WriteLine($"HTTP {(int)response.StatusCode}: {body.ToJsonString()}");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(string.Concat(mock.Chunks), (string?)body["choices"]![0]!["message"]!["content"]);
        var answered = mock.Requests[^1];
        Assert.StartsWith(MockResponsesUpstream.CodexPromptOpening, MockResponsesUpstream.BasePrompt(answered), StringComparison.Ordinal);
        // The caller's instructions still reach the model, as developer instructions.
        Assert.Contains("Answer like a pirate.", answered["input"]!.ToJsonString(), StringComparison.Ordinal);

        var health = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!;
        output.WriteLine(health["providers"]!["codex"]!.ToJsonString());
        Assert.True((bool?)health["providers"]!["codex"]!["instructions_fallback"]);

        // Remembered: the next conversation goes to Codex's own instructions at once.
        var before = mock.Requests.Count;
        var (again, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi again")));
        Assert.Equal(200, (int)again.StatusCode);
        Assert.Equal(1, mock.Requests.Count - before);

        // Logged once, as a warning, for both conversations.
        var logs = JsonNode.Parse(await server.Client.GetStringAsync("/admin/logs?limit=2000"))!["data"]!.AsArray()
            .Select(l => (string?)l!["message"]).Where(m => m?.Contains("refused our instructions", StringComparison.Ordinal) == true).ToList();
        Assert.Single(logs);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_conversation_begun_before_the_upstream_refused_our_instructions_goes_on_with_its_history_in_a_fallback_thread()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        await using var server = await StartAsync(mock);
        var first = Wire.Chat(RealStackFixture.CodexModel, false, ("system", "Answer like a pirate."), ("user", "my name is Ada"));
        var (response, body) = await server.PostJsonAsync("/v1/chat/completions", first);
        Assert.Equal(200, (int)response.StatusCode);

        // The backend changes its mind between two turns of the conversation.
        mock.RequireCodexInstructions = true;
        var history = first["messages"]!.AsArray().DeepClone().AsArray();
        history.Add(new JsonObject { ["role"] = "assistant", ["content"] = (string?)body["choices"]![0]!["message"]!["content"] });
        history.Add(new JsonObject { ["role"] = "user", ["content"] = "what is my name?" });
        var (again, answer) = await server.PostJsonAsync("/v1/chat/completions", new JsonObject { ["model"] = RealStackFixture.CodexModel, ["messages"] = history });
        output.WriteLine($"HTTP {(int)again.StatusCode}: {answer.ToJsonString()}");

        Assert.Equal(200, (int)again.StatusCode);
        Assert.Equal(string.Concat(mock.Chunks), (string?)answer["choices"]![0]!["message"]!["content"]);
        var answered = mock.Requests[^1];
        Assert.StartsWith(MockResponsesUpstream.CodexPromptOpening, MockResponsesUpstream.BasePrompt(answered), StringComparison.Ordinal);
        var input = answered["input"]!.ToJsonString();
        Assert.Contains("my name is Ada", input, StringComparison.Ordinal);
        Assert.Contains("what is my name?", input, StringComparison.Ordinal);
        Assert.Contains("Answer like a pirate.", input, StringComparison.Ordinal);
        Assert.True((bool?)JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["providers"]!["codex"]!["instructions_fallback"]);
    }

    [Fact(Timeout = 60_000)]
    public async Task Health_says_api_key_provider_for_a_model_provider_with_its_own_key()
    {
        await using var mock = await MockResponsesUpstream.StartAsync();
        // The mock's config.toml: a model provider with its own key (env_key), which `codex login status` calls not logged in.
        await using var server = await StartAsync(mock);
        var (response, _) = await server.PostJsonAsync("/v1/chat/completions", Wire.Chat(RealStackFixture.CodexModel, false, ("user", "hi")));
        Assert.Equal(200, (int)response.StatusCode);

        JsonNode codex = new JsonObject();
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(20); await Task.Delay(100))
        {
            // The background probe's `codex login status` may answer after the provider's account/read: it must not win.
            codex = JsonNode.Parse(await server.Client.GetStringAsync("/health"))!["providers"]!["codex"]!;
            if ((string?)codex["login"] is not null && codex["checked_at"] is not null && (string?)codex["version"] is not null)
            {
                break;
            }
        }
        output.WriteLine(codex.ToJsonString());
        Assert.Equal("API key provider", (string?)codex["login"]);
        Assert.True((bool?)codex["logged_in"]);
        // The hint only when something is wrong.
        Assert.Null((string?)codex["error"]);
    }
}
