using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

/// <summary>Bytes no field can hold, keys given twice, wrong types in ignored fields, and Kestrel's own rejections: 400s (and 413/414/431) with the OpenAI error shape.</summary>
public sealed class BadInputTests
{
    private const string Model = "gpt-5.2-codex";

    /// <summary>A JSON body with <paramref name="bad"/> spliced in raw where the text says BAD.</summary>
    private static byte[] Splice(string json, byte[] bad)
    {
        var at = json.IndexOf("BAD", StringComparison.Ordinal);
        return [.. Encoding.UTF8.GetBytes(json[..at]), .. bad, .. Encoding.UTF8.GetBytes(json[(at + 3)..])];
    }

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> SendBytesAsync(TestServer server, HttpMethod method, string path, byte[] body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await server.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    // Raw bytes that are not UTF-8: a stray continuation byte, an overlong form, an encoded surrogate, a cut sequence.
    public static TheoryData<string> InvalidUtf8 => new() { "80", "C0AF", "EDA080", "E282", "FF" };

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public async Task Invalid_utf8_in_chat_content_is_a_400_naming_the_field(string bytes)
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var body = Splice($$"""{"model":"{{Model}}","messages":[{"role":"system","content":"ok"},{"role":"user","content":"hi BAD there"}]}""", Hex(bytes));

        var (status, error) = await SendBytesAsync(server, HttpMethod.Post, "/v1/chat/completions", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("messages[1].content", (string?)ErrorAssert.IsOpenAIError(error, "invalid_json")["param"]);
    }

    [Theory]
    [InlineData("""hi \ud800 there""")]
    [InlineData("""hi \udc00 there""")]
    [InlineData("""trailing high \ud83d""")]
    [InlineData("""two highs \ud83d\ud83d""")]
    public async Task A_lone_surrogate_escape_in_chat_content_is_a_400(string text)
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var (response, error) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":[{"type":"text","text":"{{text}}"}]}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("messages[0].content[0].text", (string?)ErrorAssert.IsOpenAIError(error, "invalid_json")["param"]);
    }

    [Fact]
    public async Task Valid_text_of_every_width_and_an_escaped_pair_still_go_through()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (response, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"é € 😀 \ud83d\ude00 \u00e9"}],"temperature":0.2,"stop":["x"],"tools":[],"user":null}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("é € 😀 😀 é", ((CodexApiServer.Providers.TextPart)fake.Requests.Single().Messages[0].Parts[0]).Text);
    }

    [Fact]
    public async Task Bad_bytes_in_responses_input_or_metadata_are_a_400_naming_the_field()
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var cases = new (byte[] Body, string Param)[]
        {
            (Splice($$"""{"model":"{{Model}}","input":"hi BAD"}""", Hex("C3")), "input"),
            (Encoding.UTF8.GetBytes($$"""{"model":"{{Model}}","input":"hi \udfff"}"""), "input"),
            (Splice($$"""{"model":"{{Model}}","input":[{"role":"user","content":[{"type":"input_text","text":"BAD"}]}]}""", Hex("EDBFBF")), "input[0].content[0].text"),
            (Splice($$$"""{"model":"{{{Model}}}","input":"hi","metadata":{"note":"BAD"}}""", Hex("F8888080")), "metadata.note"),
            (Encoding.UTF8.GetBytes($$$"""{"model":"{{{Model}}}","input":"hi","metadata":{"note":"\ud800"}}"""), "metadata.note"),
            (Splice($$$"""{"model":"{{{Model}}}","input":"hi","metadata":{"kBADey":"v"}}""", Hex("FE")), "metadata"),
        };
        foreach (var (body, param) in cases)
        {
            var (status, error) = await SendBytesAsync(server, HttpMethod.Post, "/v1/responses", body);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal(param, (string?)ErrorAssert.IsOpenAIError(error, "invalid_json")["param"]);
        }
        // Nothing was stored for any of them.
        var (list, listBody) = await server.SendJsonAsync(HttpMethod.Get, "/v1/responses");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Empty(listBody!["data"]!.AsArray());
    }

    [Fact]
    public async Task A_config_patch_with_bad_bytes_or_a_key_given_twice_is_a_400_and_changes_nothing()
    {
        await using var server = await TestServer.StartAsync();
        var before = await File.ReadAllTextAsync(server.Settings.ConfigPath);
        var cases = new (byte[] Body, string Param, string Says)[]
        {
            (Splice("""{"tunnelCustomUrl":"https://BAD.example"}""", Hex("FF")), "tunnelCustomUrl", "UTF-8"),
            (Encoding.UTF8.GetBytes("""{"defaultModel":"gpt-\ud800"}"""), "defaultModel", "UTF-8"),
            (Encoding.UTF8.GetBytes("""{"queueTimeoutSeconds":30,"queueTimeoutSeconds":5}"""), "queueTimeoutSeconds", "more than once"),
            (Encoding.UTF8.GetBytes("""{"models":[{"id":"a","provider":"codex","provider":"claude"}]}"""), "models[0].provider", "more than once"),
            (Encoding.UTF8.GetBytes("""{"corsOrigins":["http://a.example","http://\udc00.example"]}"""), "corsOrigins[1]", "UTF-8"),
        };
        foreach (var (body, param, says) in cases)
        {
            var (status, error) = await SendBytesAsync(server, HttpMethod.Patch, "/admin/config", body);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            var detail = ErrorAssert.IsOpenAIError(error, "invalid_json");
            Assert.Equal(param, (string?)detail["param"]);
            Assert.Contains(says, (string)detail["message"]!, StringComparison.Ordinal);
        }
        Assert.Equal(before, await File.ReadAllTextAsync(server.Settings.ConfigPath));
        Assert.Equal(60, server.Settings.Config.QueueTimeoutSeconds);
    }

    /// <summary>Each accepted-and-ignored field of README, with a value of the wrong type.</summary>
    public static TheoryData<string, string> WrongTypes => new()
    {
        { "temperature", "\"hot\"" },
        { "top_p", "true" },
        { "stop", "5" },
        { "stop", "[\"a\", 1]" },
        { "seed", "1.5" },
        { "seed", "\"42\"" },
        { "max_tokens", "\"many\"" },
        { "max_completion_tokens", "[]" },
        { "max_output_tokens", "{}" },
        { "frequency_penalty", "\"0\"" },
        { "presence_penalty", "[0]" },
        { "logit_bias", "\"x\"" },
        { "logit_bias", "{\"50256\": \"-100\"}" },
        { "logprobs", "\"yes\"" },
        { "user", "42" },
        { "parallel_tool_calls", "\"false\"" },
        { "n", "\"1\"" },
        { "tools", "{}" },
        { "tool_choice", "7" },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public async Task A_wrong_type_in_an_ignored_chat_field_is_a_400_naming_it(string field, string value)
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var (response, error) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"{{field}}":{{value}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var detail = ErrorAssert.IsOpenAIError(error, "invalid_type");
        Assert.Equal(field, (string?)detail["param"]);
        Assert.Contains($"'{field}'", (string)detail["message"]!, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public async Task A_wrong_type_in_an_ignored_responses_field_is_a_400_naming_it(string field, string value)
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var (response, error) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses",
            $$"""{"model":"{{Model}}","input":"hi","{{field}}":{{value}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var detail = ErrorAssert.IsOpenAIError(error, "invalid_type");
        Assert.Equal(field, (string?)detail["param"]);
    }

    [Fact]
    public async Task The_ignored_fields_with_their_right_types_or_null_are_still_accepted()
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        const string fields = """
            "temperature":0.7,"top_p":1,"stop":"END","seed":42,"max_tokens":100,"max_completion_tokens":null,
            "frequency_penalty":-0.5,"presence_penalty":0,"logit_bias":{"50256":-100},"logprobs":false,"user":"u1",
            "parallel_tool_calls":true
            """;
        const string chatTools = """
            "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}
            """;
        const string responsesTools = """
            "tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"f"}
            """;
        var (chat, chatBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],{{fields}},"n":1,{{chatTools}}}""");
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        var (responses, responsesBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses",
            $$"""{"model":"{{Model}}","input":"hi",{{fields}},"max_output_tokens":50,{{responsesTools}}}""");
        Assert.Equal(HttpStatusCode.OK, responses.StatusCode);
        Assert.NotNull(chatBody);
        Assert.NotNull(responsesBody);
    }

    /// <summary>What a raw request gets back, read until the server closes the connection.</summary>
    private static async Task<string> RawTextAsync(TestServer server, byte[] request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(request);
        }
        catch (IOException)
        {
            // Kestrel may answer and close before it has read everything we send.
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        try
        {
            await stream.CopyToAsync(received, timeout.Token);
        }
        catch (IOException)
        {
            // A reset after the answer: what arrived is what counts.
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }

    private static async Task<(int Status, string Headers, JsonNode? Body)> RawAsync(TestServer server, byte[] request)
    {
        var text = await RawTextAsync(server, request);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, "no response: " + text);
        var headers = text[..end];
        var body = text[(end + 4)..];
        if (headers.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            // One chunk is all an error body takes.
            var size = body.IndexOf("\r\n", StringComparison.Ordinal);
            body = body.Substring(size + 2, Convert.ToInt32(body[..size], 16));
        }
        return (int.Parse(headers[9..12], System.Globalization.CultureInfo.InvariantCulture), headers, body.Length == 0 ? null : JsonNode.Parse(body));
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public async Task Kestrels_own_rejections_carry_an_OpenAI_error_body()
    {
        await using var server = await TestServer.StartAsync("""{"maxRequestBodyBytes": 4096}""");
        var host = server.BaseAddress.Authority;
        var cases = new (byte[] Request, int Status, string Code)[]
        {
            (Ascii($"GARBAGE\r\n\r\n"), 400, "invalid_request"),
            (Ascii($"GET /health HTTP/1.1\r\nHost: {host}\r\nBad Header: y\r\n\r\n"), 400, "invalid_request"),
            (Ascii($"GET /a b HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400, "invalid_request"),
            ([.. Ascii($"GET /health HTTP/1.1\r\nHost: {host}\r\nX: a"), 0, .. Ascii($"b\r\n\r\n")], 400, "invalid_request"),
            (Ascii($"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n\r\n{{}}"), 400, "invalid_request"),
            (Ascii($"GET /health HTTP/9.9\r\nHost: {host}\r\n\r\n"), 505, "http_version_not_supported"),
            (Ascii($"POST /v1/models HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"), 400, "invalid_request"),
            (Ascii($"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400, "invalid_request"),
            (Ascii($"GET /v1/models?q={new string('a', 9000)} HTTP/1.1\r\nHost: {host}\r\n\r\n"), 414, "url_too_long"),
            (Ascii($"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nX-Big: {new string('a', 40_000)}\r\n\r\n"), 431, "headers_too_large"),
            (Ascii($"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 999999\r\n\r\n{{}}"), 413, "request_too_large"),
        };
        foreach (var (request, status, code) in cases)
        {
            var (got, headers, body) = await RawAsync(server, request);
            Assert.True(status == got, $"{Encoding.ASCII.GetString(request)[..Math.Min(60, request.Length)]}: {got}\n{headers}");
            Assert.Contains("Content-Type: application/json", headers, StringComparison.OrdinalIgnoreCase);
            var error = ErrorAssert.IsOpenAIError(body, code);
            Assert.Equal("invalid_request_error", (string?)error["type"]);
        }

        // On a kept-alive connection: a good request is answered as ever, then the bad one after it gets its body.
        var both = await RawTextAsync(server, Ascii($"GET /v1/models HTTP/1.1\r\nHost: {host}\r\n\r\nGARBAGE\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", both, StringComparison.Ordinal);
        var second = both.IndexOf("HTTP/1.1 400 ", StringComparison.Ordinal);
        Assert.True(second > 0, both);
        Assert.Contains("\"object\":\"list\"", both[..second], StringComparison.Ordinal);
        ErrorAssert.IsOpenAIError(JsonNode.Parse(both[(both.IndexOf("\r\n\r\n", second, StringComparison.Ordinal) + 4)..]), "invalid_request");
    }
}
