using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

public sealed class AdminApiTests
{
    [Fact]
    public async Task Config_patch_is_validated_persisted_and_says_what_needs_a_restart()
    {
        await using var server = await TestServer.StartAsync();
        var (get, current) = await server.SendJsonAsync(HttpMethod.Get, "/admin/config");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("gpt-5.2-codex", current!["config"]!["defaultModel"]!.GetValue<string>());

        var (bad, badBody) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"port": 123456}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("port", ErrorAssert.IsOpenAIError(badBody)["message"]!.GetValue<string>());
        var (wrongType, wrongBody) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"tunnelAutoStart": "yes"}""");
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
        Assert.Equal("tunnelAutoStart", ErrorAssert.IsOpenAIError(wrongBody)["param"]!.GetValue<string>());
        // A host the next start could not listen on is refused now, not discovered at the restart.
        var (unresolvable, unresolvableBody) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"host": "my.server.example"}""");
        Assert.Equal(HttpStatusCode.BadRequest, unresolvable.StatusCode);
        Assert.Contains("host", ErrorAssert.IsOpenAIError(unresolvableBody)["message"]!.GetValue<string>());
        Assert.Equal("127.0.0.1", JsonNode.Parse(File.ReadAllText(Path.Combine(server.DataDir, "config.json")))!["host"]!.GetValue<string>());
        var (masterKey, _) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"masterKey": "msk_mine"}""");
        Assert.Equal(HttpStatusCode.BadRequest, masterKey.StatusCode);

        var (ok, patched) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config",
            """{"defaultModel": "claude-sonnet-4-5", "port": 9999, "tunnelCustomUrl": "https://api.example.com", "corsOrigins": ["https://chat.example.com"]}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(["port"], patched!["restart_required"]!.AsArray().Select(n => n!.GetValue<string>()));
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(server.DataDir, "config.json")))!;
        Assert.Equal("claude-sonnet-4-5", file["defaultModel"]!.GetValue<string>());
        Assert.Equal(9999, file["port"]!.GetValue<int>());
        Assert.Equal("https://api.example.com", file["tunnelCustomUrl"]!.GetValue<string>());
        Assert.Equal(server.Settings.Config.MasterKey, file["masterKey"]!.GetValue<string>());

        // Live settings apply at once: the new CORS origin is allowed now.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("Origin", "https://chat.example.com");
        var cors = await server.Client.SendAsync(request);
        Assert.Equal("https://chat.example.com", cors.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task Master_key_regeneration_replaces_the_old_key_at_once()
    {
        await using var server = await TestServer.StartAsync();
        var old = server.Settings.Config.MasterKey!;
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/admin/master-key/regenerate", bearer: old);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var fresh = body!["master_key"]!.GetValue<string>();
        Assert.Matches("^msk_[A-Za-z0-9_-]{43}$", fresh);
        Assert.NotEqual(old, fresh);

        async Task<HttpStatusCode> ExternalWith(string key)
        {
            using var r = new HttpRequestMessage(HttpMethod.Get, "/admin/config");
            r.Headers.Authorization = new("Bearer", key);
            r.Headers.Add("X-Forwarded-For", "203.0.113.1");
            r.Headers.Add("CF-Connecting-IP", "203.0.113.1");
            return (await server.Client.SendAsync(r)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.Unauthorized, await ExternalWith(old));
        Assert.Equal(HttpStatusCode.OK, await ExternalWith(fresh));
        Assert.Equal(fresh, JsonNode.Parse(File.ReadAllText(Path.Combine(server.DataDir, "config.json")))!["masterKey"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_config_never_shows_its_secrets_and_says_whether_they_are_set()
    {
        await using var server = await TestServer.StartAsync("""{"tunnelToken": "tok-secret-value"}""");
        var master = server.Settings.Config.MasterKey!;
        foreach (var (method, json) in new[] { ("GET", (string?)null), ("PATCH", """{"defaultModel": "gpt-5.1"}""") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), "/admin/config");
            if (json is not null)
            {
                request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
            }
            using var response = await server.Client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.DoesNotContain(master, text);
            Assert.DoesNotContain("tok-secret-value", text);
            var body = JsonNode.Parse(text)!;
            Assert.Null(body["config"]!["masterKey"]);
            Assert.Null(body["config"]!["tunnelToken"]);
            Assert.True(body["master_key_set"]!.GetValue<bool>());
            Assert.True(body["tunnel_token_set"]!.GetValue<bool>());
        }
        // A PATCH that does not name the token keeps it.
        Assert.Equal("tok-secret-value", server.Settings.Config.TunnelToken);
        var (_, cleared) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"tunnelToken": null}""");
        Assert.False(cleared!["tunnel_token_set"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Only_the_master_key_or_this_machine_sees_or_regenerates_the_master_key_never_an_admin_key()
    {
        await using var server = await TestServer.StartAsync();
        var master = server.Settings.Config.MasterKey!;
        var (_, created) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "admin", "scopes": ["admin"]}""");
        var admin = created!["key"]!.GetValue<string>();

        async Task<(HttpStatusCode Status, JsonNode? Body)> Send(HttpMethod method, string path, string? key, bool external)
        {
            using var r = new HttpRequestMessage(method, path);
            if (key is not null)
            {
                r.Headers.Authorization = new("Bearer", key);
            }
            if (external)
            {
                r.Headers.Add("X-Forwarded-For", "203.0.113.9");
            }
            using var response = await server.Client.SendAsync(r);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }

        foreach (var external in new[] { true, false })
        {
            var (status, body) = await Send(HttpMethod.Get, "/admin/master-key", admin, external);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            ErrorAssert.IsOpenAIError(body, "master_key_required");
            var (regenerate, regenerateBody) = await Send(HttpMethod.Post, "/admin/master-key/regenerate", admin, external);
            Assert.Equal(HttpStatusCode.Forbidden, regenerate);
            Assert.DoesNotContain("msk_", regenerateBody!.ToJsonString());
            // The admin key still manages everything else.
            Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "/admin/config", admin, external)).Status);
        }
        Assert.Equal(master, server.Settings.Config.MasterKey);

        Assert.Equal(master, (await Send(HttpMethod.Get, "/admin/master-key", master, external: true)).Body!["master_key"]!.GetValue<string>());
        Assert.Equal(master, (await Send(HttpMethod.Get, "/admin/master-key", null, external: false)).Body!["master_key"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, "/admin/master-key", null, external: true)).Status);
    }

    [Fact]
    public async Task Stats_count_requests_errors_and_keys()
    {
        await using var server = await TestServer.StartAsync();
        var (_, key) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "stats key", "scopes": ["models"]}""");
        for (var i = 0; i < 3; i++)
        {
            await server.SendJsonAsync(HttpMethod.Get, "/v1/models", bearer: key!["key"]!.GetValue<string>());
        }
        await server.SendJsonAsync(HttpMethod.Get, "/v1/models/nope");
        var (_, stats) = await server.SendJsonAsync(HttpMethod.Get, "/admin/stats");
        Assert.Equal(5, stats!["requests"]!.GetValue<long>());
        Assert.Equal(1, stats["errors"]!.GetValue<long>());
        var byKey = stats["by_key"]!.AsArray();
        Assert.Equal(3, byKey.Single(k => k!["name"]!.GetValue<string>() == "stats key")!["requests"]!.GetValue<long>());
        Assert.NotEmpty(stats["by_hour"]!.AsArray());
    }

    [Fact]
    public async Task Logs_list_clear_and_stream_live()
    {
        await using var server = await TestServer.StartAsync();
        await server.SendJsonAsync(HttpMethod.Get, "/v1/models");
        var (_, logs) = await server.SendJsonAsync(HttpMethod.Get, "/admin/logs");
        Assert.Contains(logs!["data"]!.AsArray(), l => l!["message"]!.GetValue<string>().Contains("GET /v1/models 200"));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var stream = await server.Client.GetAsync("/admin/logs/stream", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(cts.Token));
        Assert.Equal(": connected", await reader.ReadLineAsync(cts.Token));
        await server.SendJsonAsync(HttpMethod.Get, "/v1/models/opus");
        string? line, previous = null;
        while ((line = await reader.ReadLineAsync(cts.Token)) is not null && !(line.StartsWith("data: ") && line.Contains("/v1/models/opus 200")))
        {
            previous = line;
        }
        Assert.NotNull(line);
        // Each event carries its log line's id in the id field.
        Assert.Equal("id: " + JsonNode.Parse(line["data: ".Length..])!["id"]!.GetValue<long>(), previous);

        var (cleared, _) = await server.SendJsonAsync(HttpMethod.Delete, "/admin/logs");
        Assert.Equal(HttpStatusCode.NoContent, cleared.StatusCode);
        var (_, empty) = await server.SendJsonAsync(HttpMethod.Get, "/admin/logs");
        Assert.DoesNotContain(empty!["data"]!.AsArray(), l => l!["message"]!.GetValue<string>().Contains("/v1/models/opus"));
    }

    [Fact]
    public async Task Api_keys_can_be_updated_and_report_their_usage()
    {
        await using var server = await TestServer.StartAsync();
        var (_, created) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "before", "scopes": ["chat"]}""");
        var id = created!["id"]!.GetValue<string>();
        Assert.StartsWith("cdx_", created["key"]!.GetValue<string>());
        Assert.True(created["key"]!.GetValue<string>().Length >= 4 + 32);

        var (_, listed) = await server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys");
        Assert.All(listed!["data"]!.AsArray(), k => Assert.Null(k!["key"]));

        var (patch, updated) = await server.SendJsonAsync(HttpMethod.Patch, $"/v1/api-keys/{id}", """{"name": "after", "scopes": ["models", "chat"], "requests_per_minute": 30}""");
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        Assert.Equal("after", updated!["name"]!.GetValue<string>());
        Assert.Equal(30, updated["requests_per_minute"]!.GetValue<int>());
        Assert.Equal(["models", "chat"], updated["scopes"]!.AsArray().Select(s => s!.GetValue<string>()));
        var (badScope, _) = await server.SendJsonAsync(HttpMethod.Patch, $"/v1/api-keys/{id}", """{"scopes": ["root"]}""");
        Assert.Equal(HttpStatusCode.BadRequest, badScope.StatusCode);

        await server.SendJsonAsync(HttpMethod.Get, "/v1/models", bearer: created["key"]!.GetValue<string>());
        var (_, usage) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/api-keys/{id}/usage");
        Assert.Equal(1, usage!["by_model"]!.AsArray().Sum(m => m!["requests"]!.GetValue<long>()));
        var (_, got) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/api-keys/{id}");
        Assert.NotNull(got!["last_used_at"]);

        var (deleted, _) = await server.SendJsonAsync(HttpMethod.Delete, $"/v1/api-keys/{id}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var (missing, _) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/api-keys/{id}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_console_pages_are_served_from_the_binary_to_anyone_but_their_data_is_guarded()
    {
        await using var server = await TestServer.StartAsync();
        var page = await server.Client.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("<title>Codex API Server</title>", await page.Content.ReadAsStringAsync());
        var script = await server.Client.GetAsync("/admin/app.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.DoesNotContain("http://", await script.Content.ReadAsStringAsync()); // nothing from a CDN
        var (missing, body) = await server.SendJsonAsync(HttpMethod.Get, "/admin/nothing.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        ErrorAssert.IsOpenAIError(body);

        foreach (var path in new[] { "/admin", "/setup", "/admin/app.js" })
        {
            using var served = await server.Client.GetAsync(path);
            Assert.Equal("DENY", served.Headers.GetValues("X-Frame-Options").Single());
            var csp = served.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Contains("frame-ancestors 'none'", csp);
            Assert.Contains("default-src 'self'", csp);
            Assert.DoesNotContain("unsafe-inline", csp);
        }

        using var outside = new HttpRequestMessage(HttpMethod.Get, "/admin");
        outside.Headers.Add("X-Forwarded-For", "203.0.113.5");
        Assert.Equal(HttpStatusCode.OK, (await server.Client.SendAsync(outside)).StatusCode);
        using var data = new HttpRequestMessage(HttpMethod.Get, "/admin/config");
        data.Headers.Add("X-Forwarded-For", "203.0.113.5");
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.SendAsync(data)).StatusCode);
    }
}
