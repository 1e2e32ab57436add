using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Api;

/// <summary>What the README (and the original product's) promise about models and keys.</summary>
public sealed class ReadmePromisesTests
{
    [Theory]
    [InlineData("/v1/chat/completions", """{"messages":[{"role":"user","content":"Hi"}]}""")]
    [InlineData("/v1/responses", """{"input":"Hi"}""")]
    public async Task A_request_without_model_uses_defaultModel(string path, string json)
    {
        var codex = new FakeProvider();
        var claude = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(codex, """{"defaultModel": "claude-sonnet-4-5"}""", more: claude);
        using var response = await server.PostAsync(path, json);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("claude-sonnet-4-5", body["model"]!.GetValue<string>());
        Assert.Equal("claude-sonnet-4-5", Assert.Single(claude.Requests).Model.CliModel);
        Assert.Empty(codex.Requests);
    }

    [Theory]
    [InlineData("gpt-5.3-codex", ProviderKind.Codex, "gpt-5.3-codex")]
    [InlineData("o3", ProviderKind.Codex, "o3")]
    [InlineData("GPT-5.2-Codex", ProviderKind.Codex, "gpt-5.2-codex")]
    [InlineData("Sonnet", ProviderKind.Claude, "sonnet")]
    [InlineData("CLAUDE-SONNET-4-5", ProviderKind.Claude, "claude-sonnet-4-5")]
    [InlineData("claude-future-9", ProviderKind.Claude, "claude-future-9")]
    public async Task Any_valid_name_routes_claude_names_to_claude_the_rest_to_codex_known_ones_in_any_case(string model, ProviderKind kind, string cliModel)
    {
        var codex = new FakeProvider();
        var claude = new FakeProvider(ProviderKind.Claude);
        await using var server = await ApiServer.StartAsync(codex, more: claude);
        using var response = await server.PostAsync("/v1/chat/completions", $$"""{"model":"{{model}}","messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var routed = Assert.Single(kind == ProviderKind.Claude ? claude.Requests : codex.Requests);
        Assert.Equal(cliModel, routed.Model.CliModel);
        Assert.Empty(kind == ProviderKind.Claude ? codex.Requests : claude.Requests);
    }

    [Theory]
    [InlineData("cdx_wrongwrongwrongwrongwrongwrongwrong")]
    [InlineData("msk_wrongwrongwrongwrongwrongwrongwrongwrongwro")]
    public async Task A_local_request_with_a_wrong_key_of_ours_gets_401_a_placeholder_stays_keyless(string wrong)
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var (refused, body) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models", bearer: wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        ErrorAssert.IsOpenAIError(body, "invalid_api_key");
        var (placeholder, _) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models", bearer: "sk-local");
        Assert.Equal(HttpStatusCode.OK, placeholder.StatusCode);
        var (none, _) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models");
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
    }

    [Fact]
    public async Task A_revoked_key_cannot_be_made_active_again()
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var (_, created) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "leaked", "scopes": ["models"]}""");
        var id = created!["id"]!.GetValue<string>();
        var key = created["key"]!.GetValue<string>();
        await server.SendJsonAsync(HttpMethod.Post, $"/v1/api-keys/{id}/revoke");

        var (patch, body) = await server.SendJsonAsync(HttpMethod.Patch, $"/v1/api-keys/{id}", """{"active": true}""");
        Assert.Equal(HttpStatusCode.BadRequest, patch.StatusCode);
        ErrorAssert.IsOpenAIError(body, "key_revoked");
        var (_, after) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/api-keys/{id}");
        Assert.False(after!["active"]!.GetValue<bool>());
        var (use, _) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models", bearer: key);
        Assert.Equal(HttpStatusCode.Unauthorized, use.StatusCode);

        // A key that was only paused (active: false) can come back.
        var (_, paused) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "paused", "scopes": ["models"]}""");
        var pausedId = paused!["id"]!.GetValue<string>();
        await server.SendJsonAsync(HttpMethod.Patch, $"/v1/api-keys/{pausedId}", """{"active": false}""");
        var (resumed, resumedBody) = await server.SendJsonAsync(HttpMethod.Patch, $"/v1/api-keys/{pausedId}", """{"active": true}""");
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.True(resumedBody!["active"]!.GetValue<bool>());
    }

    [Fact]
    public async Task The_failed_key_slow_down_believes_CF_Connecting_IP_only_from_a_loopback_peer()
    {
        // From loopback (cloudflared) the forwarded address is the caller: other addresses are not slowed.
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        for (var i = 0; i < 7; i++)
        {
            await WrongKeyAsync(server, "192.0.2.10");
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await WrongKeyAsync(server, "192.0.2.11");
        Assert.True(watch.ElapsedMilliseconds < 200, $"{watch.ElapsedMilliseconds} ms");
        var logs = server.App.Services.GetRequiredService<CodexApiServer.Hosting.LogBuffer>().Recent(500);
        Assert.Contains(logs, l => l.Message.Contains("from 192.0.2.10 (7 failures"));
    }

    [Fact]
    public async Task From_any_other_peer_CF_Connecting_IP_is_ignored_and_failures_count_on_the_peer_address()
    {
        // No second interface may be used here, so the peer address is set on a request context.
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        var gate = server.App.Services.GetRequiredService<CodexApiServer.Security.AccessControl>();
        for (var i = 0; i < 3; i++)
        {
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.5");
            context.Request.Method = "GET";
            context.Request.Path = "/v1/models";
            context.Request.Host = new HostString("127.0.0.1");
            context.Request.Headers.Authorization = "Bearer cdx_guessguessguessguessguessguessguess";
            context.Request.Headers["CF-Connecting-IP"] = $"192.0.2.{100 + i}"; // a new "address" each time
            context.Response.Body = new MemoryStream();
            await gate.InvokeAsync(context, _ => Task.CompletedTask);
            Assert.Equal(401, context.Response.StatusCode);
        }
        var logs = server.App.Services.GetRequiredService<CodexApiServer.Hosting.LogBuffer>().Recent(500);
        Assert.Contains(logs, l => l.Message.Contains("from 203.0.113.5 (3 failures"));
        Assert.DoesNotContain(logs, l => l.Message.Contains("from 192.0.2.10"));
    }

    private static async Task WrongKeyAsync(TestServer server, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Authorization = new("Bearer", "cdx_guessguessguessguessguessguessguess");
        request.Headers.Add("CF-Connecting-IP", forwardedFor);
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
