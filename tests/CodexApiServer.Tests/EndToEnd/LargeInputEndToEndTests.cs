using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>Inputs at the edges of size, through our server and the real CLIs: a schema too big for an argv string, a prompt too long for the model.</summary>
[Collection(EndToEndGroup.Name)]
public sealed class LargeInputEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private RealStackServer Server => stack.Server;

    public static TheoryData<string, string> ModelsAndApis => new()
    {
        { RealStackFixture.ClaudeModel, "chat" },
        { RealStackFixture.ClaudeModel, "responses" },
        { RealStackFixture.CodexModel, "chat" },
        { RealStackFixture.CodexModel, "responses" },
    };

    /// <summary>A valid JSON schema of about <paramref name="bytes"/> bytes: one required field, and many described optional ones.</summary>
    private static JsonObject BigSchema(int bytes)
    {
        var properties = new JsonObject { ["answer"] = new JsonObject { ["type"] = "string" } };
        var description = new string('d', 1000);
        for (var i = 0; properties.ToJsonString().Length < bytes; i++)
        {
            properties[$"field_{i}"] = new JsonObject { ["type"] = "string", ["description"] = $"{i} {description}" };
        }
        return new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = new JsonArray("answer") };
    }

    [Theory(Timeout = 90_000)]
    [MemberData(nameof(ModelsAndApis))]
    public async Task A_432_KB_json_schema_reaches_the_model_and_the_answer_follows_it(string model, string api)
    {
        stack.ResetMocks();
        var schema = BigSchema(432 * 1024);
        var marker = "field_" + (schema["properties"]!.AsObject().Count - 2);
        string? seen = null;
        stack.ClaudeUpstream.Reply = r =>
        {
            // Claude Code carries the schema as its StructuredOutput tool's input schema.
            seen ??= r.Json["tools"]?.AsArray().FirstOrDefault(t => (string?)t!["name"] == "StructuredOutput")?["input_schema"]?.ToJsonString();
            return r.Body.Contains("tool_result", StringComparison.Ordinal)
                ? MockReply.Text("Done.")
                : MockReply.ToolUse("StructuredOutput", """{"answer":"ok"}""");
        };
        stack.CodexUpstream.Reply = r =>
        {
            seen ??= r["text"]?["format"]?["schema"]?.ToJsonString();
            return ["{\"answer\":", "\"ok\"}"];
        };
        var body = api == "chat"
            ? Wire.Chat(model, false, ("user", "Answer in the schema."))
            : Wire.Response(model, "Answer in the schema.", false);
        if (api == "chat")
        {
            body["response_format"] = new JsonObject { ["type"] = "json_schema", ["json_schema"] = new JsonObject { ["name"] = "big", ["schema"] = schema } };
        }
        else
        {
            body["text"] = new JsonObject { ["format"] = new JsonObject { ["type"] = "json_schema", ["name"] = "big", ["schema"] = schema } };
        }
        output.WriteLine($"request body: {Encoding.UTF8.GetByteCount(body.ToJsonString()) / 1024} KB");

        var (response, answer) = await Server.PostJsonAsync(api == "chat" ? "/v1/chat/completions" : "/v1/responses", body);

        Assert.True(200 == (int)response.StatusCode, answer.ToJsonString());
        var text = api == "chat" ? (string?)answer["choices"]![0]!["message"]!["content"] : (string?)answer["output_text"];
        Assert.Equal("ok", (string?)JsonNode.Parse(text!)!["answer"]);
        Assert.NotNull(seen);
        Assert.True(seen!.Length >= 432 * 1024, $"the schema upstream has {seen.Length} characters");
        Assert.Contains(marker, seen, StringComparison.Ordinal);
    }

    [Theory(Timeout = 90_000)]
    [MemberData(nameof(ModelsAndApis))]
    public async Task A_prompt_too_long_for_the_model_is_400_context_length_exceeded(string model, string api)
    {
        stack.ResetMocks();
        stack.ClaudeUpstream.Reply = _ => MockReply.Error(400, "prompt is too long: 215000 tokens > 200000 maximum");
        stack.CodexUpstream.FailWithStatus = 400;
        stack.CodexUpstream.FailBody = """{"error":{"message":"Your input exceeds the context window of this model. Please adjust your input and try again.","type":"invalid_request_error","param":null,"code":"context_length_exceeded"}}""";
        try
        {
            var body = api == "chat" ? Wire.Chat(model, false, ("user", "a very long prompt")) : Wire.Response(model, "a very long prompt", false);
            var (response, error) = await Server.PostJsonAsync(api == "chat" ? "/v1/chat/completions" : "/v1/responses", body);
            output.WriteLine($"{model} {api}: HTTP {(int)response.StatusCode} {error.ToJsonString()}");

            Assert.Equal(400, (int)response.StatusCode);
            var detail = ErrorAssert.IsOpenAIError(error, "context_length_exceeded");
            Assert.Equal("invalid_request_error", (string?)detail["type"]);
            Assert.Equal(400, (await Server.UsageRowAsync(response)).Status);
        }
        finally
        {
            stack.ResetMocks();
        }
    }
}
