using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Support;
using Microsoft.AspNetCore.Routing;

namespace CodexApiServer.Tests.Security;

public sealed class AccessControlTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private readonly Dictionary<string, string> _keys = [];

    // Each route and the scope it needs (null = public).
    public static readonly (string Method, string Path, string? Scope)[] Routes =
    [
        ("GET", "/health", null),
        ("GET", "/v1/models", "models"),
        ("GET", "/v1/models/gpt-5.2-codex", "models"),
        ("POST", "/v1/chat/completions", "chat"),
        ("POST", "/v1/responses", "responses"),
        ("GET", "/v1/responses", "responses"),
        ("GET", "/v1/responses/resp_0", "responses"),
        ("DELETE", "/v1/responses/resp_0", "responses"),
        ("GET", "/v1/responses/resp_0/input_items", "responses"),
        ("POST", "/v1/responses/resp_0/cancel", "responses"),
        ("GET", "/v1/chat/completions/chatcmpl_0", "chat"),
        ("POST", "/v1/messages", "messages"),
        ("POST", "/v1/messages/count_tokens", "messages"),
        ("GET", "/v1/api-keys", "admin"),
        ("POST", "/v1/api-keys", "admin"),
        ("GET", "/v1/api-keys/key_0", "admin"),
        ("PATCH", "/v1/api-keys/key_0", "admin"),
        ("DELETE", "/v1/api-keys/key_0", "admin"),
        ("POST", "/v1/api-keys/key_0/revoke", "admin"),
        ("GET", "/v1/api-keys/key_0/usage", "admin"),
        ("GET", "/admin/config", "admin"),
        ("PATCH", "/admin/config", "admin"),
        ("GET", "/admin/stats", "admin"),
        ("GET", "/admin/config/schema", "admin"),
        ("GET", "/admin/history", "admin"),
        ("GET", "/admin/history/resp_0", "admin"),
        ("DELETE", "/admin/history/resp_0", "admin"),
        ("GET", "/admin/setup", "admin"),
        ("GET", "/metrics", "admin"),
        ("GET", "/admin/logs", "admin"),
        ("DELETE", "/admin/logs", "admin"),
        ("GET", "/admin/tunnel/status", "admin"),
        ("POST", "/admin/tunnel/stop", "admin"),
        ("GET", "/admin", null),
        // Not in the loop because they act for real: /admin/master-key/regenerate (AdminApiTests),
        // /admin/tunnel/start and /install (Tunnel tests), /admin/logs/stream (never ends; below).
    ];

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync("""{"corsOrigins": ["https://app.example.com"]}""");
        foreach (var scope in ApiKeyStore.AllScopes)
        {
            var (_, body) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", $$"""{"name": "{{scope}} key", "scopes": ["{{scope}}"]}""");
            _keys[scope] = body!["key"]!.GetValue<string>();
        }
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Task<HttpResponseMessage> SendAsync(string method, string path, string? key = null, bool external = false, string? origin = null, string? address = null) =>
        SendAsync(_server, method, path, key, external, origin, address);

    private static async Task<HttpResponseMessage> SendAsync(TestServer server, string method, string path, string? key = null, bool external = false, string? origin = null, string? address = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PATCH")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key);
        }
        if (external)
        {
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");
            request.Headers.Add("CF-Connecting-IP", address ?? "203.0.113.7");
        }
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        return await server.Client.SendAsync(request);
    }

    private static bool PassedTheGate(HttpResponseMessage response) =>
        response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden);

    [Fact]
    public async Task Local_requests_need_no_key()
    {
        foreach (var (method, path, _) in Routes)
        {
            var response = await SendAsync(method, path);
            Assert.True(PassedTheGate(response), $"{method} {path} -> {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task External_requests_without_a_key_get_401_except_health()
    {
        foreach (var (method, path, scope) in Routes)
        {
            var response = await SendAsync(method, path, external: true, address: "198.51.100.1");
            if (scope is null)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                if (path != "/health")
                {
                    continue;
                }
                var health = await Body(response);
                Assert.Equal("ok", health!["status"]!.GetValue<string>());
                Assert.Null(health["providers"]); // no paths or versions for anonymous outsiders
                continue;
            }
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            ErrorAssert.IsErrorOf(path, await Body(response), "missing_api_key");
        }
    }

    [Fact]
    public async Task External_requests_with_a_wrong_key_get_401_invalid_api_key()
    {
        foreach (var (method, path, scope) in Routes.Where(r => r.Scope is not null))
        {
            var response = await SendAsync(method, path, key: "cdx_wrongwrongwrongwrongwrongwrongwrong", external: true, address: $"198.51.100.{Random.Shared.Next(2, 250)}");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            ErrorAssert.IsErrorOf(path, await Body(response), "invalid_api_key");
            Assert.Equal("false", response.Headers.GetValues("x-should-retry").Single());
        }
    }

    [Fact]
    public async Task Each_scope_opens_its_routes_and_no_others_admin_opens_all()
    {
        foreach (var (keyScope, key) in _keys)
        {
            foreach (var (method, path, scope) in Routes.Where(r => r.Scope is not null))
            {
                var response = await SendAsync(method, path, key, external: true);
                var expected = keyScope == "admin" || keyScope == scope;
                Assert.True(expected == PassedTheGate(response), $"{keyScope} key on {method} {path} -> {(int)response.StatusCode}");
                if (!expected)
                {
                    Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                    ErrorAssert.IsErrorOf(path, await Body(response), "insufficient_scope");
                }
            }
        }
    }

    // Mapped, and left out of Routes because calling them acts for real or answers 403 to an admin key by design.
    private static readonly (string Method, string Path, string? Scope)[] OtherRoutes =
    [
        ("GET", "/admin/master-key", "admin"),
        ("POST", "/admin/master-key/regenerate", "admin"),
        ("POST", "/admin/tunnel/start", "admin"),
        ("POST", "/admin/tunnel/install", "admin"),
        ("GET", "/admin/logs/stream", "admin"),
        ("GET", "/", null),
        ("GET", "/setup", null),
        ("GET", "/admin/app.js", null),
        ("GET", "/openapi.json", null),
        ("GET", "/docs", null),
    ];

    [Fact]
    public async Task Every_mapped_endpoint_declares_its_scope_and_the_routes_above_cover_them_all()
    {
        var reached = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(); // by display name: method, pattern, handler
        // Behind the gate, in front of the handlers: tells which endpoint a request matched and what it declares, and calls no handler.
        await using var server = await TestServer.StartAsync(beforeStart: app => app.Use((HttpContext context, RequestDelegate _) =>
        {
            var endpoint = context.GetEndpoint();
            if (endpoint is not null)
            {
                reached[endpoint.DisplayName ?? "?"] = true;
            }
            var declared = endpoint?.Metadata.GetMetadata<RequiredScope>();
            context.Response.Headers["x-declared-scope"] = declared is null ? "(none)" : declared.Scope ?? "(public)";
            return Task.CompletedTask;
        }));
        var endpoints = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints; // what routing matches against
        Assert.NotEmpty(endpoints);
        var undecided = endpoints.Where(e => e.Metadata.GetMetadata<RequiredScope>() is null).Select(e => e.DisplayName).ToList();
        Assert.True(undecided.Count == 0, "endpoints without a scope decision: " + string.Join(", ", undecided));

        foreach (var (method, path, scope) in Routes.Concat(OtherRoutes))
        {
            using var response = await SendAsync(server, method, path);
            Assert.True(response.Headers.TryGetValues("x-declared-scope", out var declared), $"{method} {path} -> {(int)response.StatusCode}, matched no endpoint");
            Assert.True((scope ?? "(public)") == declared.Single(), $"{method} {path} declares {declared.Single()}, the table says {scope ?? "(public)"}");
        }
        var unlisted = endpoints.Select(e => e.DisplayName).Where(name => !reached.ContainsKey(name ?? "?")).ToList();
        Assert.True(unlisted.Count == 0, "endpoints missing from Routes/OtherRoutes: " + string.Join(", ", unlisted));
    }

    [Fact]
    public async Task A_route_mapped_without_a_scope_needs_admin_under_the_admin_prefixes_and_a_key_elsewhere()
    {
        (string Path, string Needs)[] unscoped = [("/admin/unscoped", "admin"), ("/v1/api-keys/unscoped/x", "admin"), ("/v1/unscoped", "any"), ("/unscoped", "any")];
        await using var server = await TestServer.StartAsync(beforeStart: app =>
        {
            foreach (var (path, _) in unscoped)
            {
                app.MapGet(path, () => "reached");
            }
        });
        var chat = (await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "chat", "scopes": ["chat"]}""")).Body!["key"]!.GetValue<string>();
        var admin = (await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "admin", "scopes": ["admin"]}""")).Body!["key"]!.GetValue<string>();
        foreach (var (path, needs) in unscoped)
        {
            var keyless = await SendAsync(server, "GET", path, external: true);
            Assert.True(keyless.StatusCode == HttpStatusCode.Unauthorized, $"keyless {path} -> {(int)keyless.StatusCode}");
            ErrorAssert.IsOpenAIError(await Body(keyless), "missing_api_key");

            var chatKey = await SendAsync(server, "GET", path, chat, external: true);
            if (needs == "admin")
            {
                Assert.True(chatKey.StatusCode == HttpStatusCode.Forbidden, $"chat key {path} -> {(int)chatKey.StatusCode}");
                ErrorAssert.IsOpenAIError(await Body(chatKey), "insufficient_scope");
            }
            else
            {
                Assert.Equal("reached", await chatKey.Content.ReadAsStringAsync());
            }
            Assert.Equal("reached", await (await SendAsync(server, "GET", path, admin, external: true)).Content.ReadAsStringAsync());
            Assert.Equal("reached", await (await SendAsync(server, "GET", path)).Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task The_live_log_stream_is_guarded_too()
    {
        using var outside = new HttpRequestMessage(HttpMethod.Get, "/admin/logs/stream");
        outside.Headers.Add("X-Forwarded-For", "203.0.113.7");
        outside.Headers.Add("CF-Connecting-IP", "198.51.100.77");
        using var refused = await _server.Client.SendAsync(outside, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        using var scoped = new HttpRequestMessage(HttpMethod.Get, "/admin/logs/stream");
        scoped.Headers.Add("X-Forwarded-For", "203.0.113.7");
        scoped.Headers.Authorization = new("Bearer", _keys["chat"]);
        using var forbidden = await _server.Client.SendAsync(scoped, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

        using var admin = new HttpRequestMessage(HttpMethod.Get, "/admin/logs/stream");
        admin.Headers.Add("X-Forwarded-For", "203.0.113.7");
        admin.Headers.Authorization = new("Bearer", _keys["admin"]);
        using var allowed = await _server.Client.SendAsync(admin, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task The_master_key_opens_everything_from_outside_also_as_x_api_key()
    {
        foreach (var (method, path, _) in Routes)
        {
            var response = await SendAsync(method, path, _server.Settings.Config.MasterKey, external: true);
            Assert.True(PassedTheGate(response), $"{method} {path} -> {(int)response.StatusCode}");
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/api-keys");
        request.Headers.Add("x-api-key", _server.Settings.Config.MasterKey);
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, (await _server.Client.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task A_foreign_web_origin_is_treated_as_external_even_from_this_machine()
    {
        foreach (var (method, path, scope) in Routes.Where(r => r.Scope is not null))
        {
            var response = await SendAsync(method, path, origin: "https://evil.example");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
        // The server's own pages and configured origins are fine.
        var own = await SendAsync("GET", "/v1/models", origin: _server.BaseAddress.GetLeftPart(UriPartial.Authority));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        var allowed = await SendAsync("GET", "/v1/models", origin: "https://app.example.com");
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("https://app.example.com", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("x-request-id", allowed.Headers.GetValues("Access-Control-Expose-Headers").Single());
    }

    [Fact]
    public async Task Preflight_is_answered_for_allowed_origins_only()
    {
        using var good = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        good.Headers.Add("Origin", "https://app.example.com");
        good.Headers.Add("Access-Control-Request-Method", "POST");
        good.Headers.Add("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os");
        var ok = await _server.Client.SendAsync(good);
        Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
        Assert.Equal("https://app.example.com", ok.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("authorization", ok.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("POST", ok.Headers.GetValues("Access-Control-Allow-Methods").Single());

        using var bad = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        bad.Headers.Add("Origin", "https://evil.example");
        bad.Headers.Add("Access-Control-Request-Method", "POST");
        var refused = await _server.Client.SendAsync(bad);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task A_local_placeholder_key_is_ignored_but_a_valid_key_is_used()
    {
        var placeholder = await SendAsync("GET", "/v1/models", key: "sk-dummy");
        Assert.Equal(HttpStatusCode.OK, placeholder.StatusCode);
        var scoped = await SendAsync("GET", "/v1/api-keys", key: _keys["chat"]);
        Assert.Equal(HttpStatusCode.Forbidden, scoped.StatusCode);
    }

    [Fact]
    public async Task Repeated_failures_from_one_address_are_slowed_down_and_logged_without_the_key()
    {
        var durations = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            var watch = Stopwatch.StartNew();
            var response = await SendAsync("GET", "/v1/models", key: "cdx_guess_number_" + i + "_xxxxxxxxxxxxxxxxxxxxxxxx", external: true, address: "192.0.2.55");
            durations.Add(watch.ElapsedMilliseconds);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        Assert.True(durations.Take(5).Max() < 200, string.Join(",", durations));
        Assert.True(durations[7] >= 900, string.Join(",", durations)); // 8th failure waits 1 s
        // Another address is not punished for it.
        var watch2 = Stopwatch.StartNew();
        await SendAsync("GET", "/v1/models", key: "cdx_other", external: true, address: "192.0.2.56");
        Assert.True(watch2.ElapsedMilliseconds < 200);

        var logs = _server.App.Services.GetRequiredService<CodexApiServer.Hosting.LogBuffer>().Recent(2000);
        Assert.Contains(logs, l => l.Message.Contains("192.0.2.55") && l.Message.Contains("8 failures"));
        Assert.DoesNotContain(logs, l => l.Message.Contains("cdx_guess"));
    }

    [Fact]
    public async Task Requests_per_minute_limit_gives_429_with_retry_after_and_ratelimit_headers()
    {
        var (_, created) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "limited", "scopes": ["models"], "requests_per_minute": 2}""");
        var key = created!["key"]!.GetValue<string>();
        var first = await SendAsync("GET", "/v1/models", key, external: true);
        Assert.Equal("1", first.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", key, external: true)).StatusCode);
        var third = await SendAsync("GET", "/v1/models", key, external: true);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        ErrorAssert.IsOpenAIError(await Body(third), "rate_limit_exceeded");
        var retryAfter = int.Parse(third.Headers.GetValues("retry-after").Single());
        Assert.InRange(retryAfter, 1, 60);
        Assert.Equal("2", third.Headers.GetValues("x-ratelimit-limit-requests").Single());
        Assert.Equal("0", third.Headers.GetValues("x-ratelimit-remaining-requests").Single());
    }

    [Fact]
    public async Task Tokens_per_day_limit_counts_the_usage_log()
    {
        var (_, created) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "budget", "scopes": ["models"], "tokens_per_day": 100}""");
        var key = created!["key"]!.GetValue<string>();
        var id = created["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", key, external: true)).StatusCode);
        var usage = _server.App.Services.GetRequiredService<UsageLog>();
        usage.Write(new UsageRow(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "req_test", id, "POST /v1/chat/completions", "gpt-5.2-codex", "codex", 200, 60, 50, 0, 0, 10));
        var limited = await SendAsync("GET", "/v1/models", key, external: true);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        ErrorAssert.IsOpenAIError(await Body(limited), "tokens_per_day_exceeded");
        Assert.True(int.Parse(limited.Headers.GetValues("retry-after").Single()) > 3600);
    }

    [Fact]
    public async Task Revoked_and_expired_keys_are_rejected()
    {
        var (_, a) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "to revoke", "scopes": ["models"]}""");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", a!["key"]!.GetValue<string>(), external: true)).StatusCode);
        var (revoke, revoked) = await _server.SendJsonAsync(HttpMethod.Post, $"/v1/api-keys/{a["id"]}/revoke");
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.False(revoked!["active"]!.GetValue<bool>());
        var after = await SendAsync("GET", "/v1/models", a["key"]!.GetValue<string>(), external: true);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Contains("revoked", ErrorAssert.IsOpenAIError(await Body(after), "invalid_api_key")["message"]!.GetValue<string>());

        var past = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();
        var (_, b) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", $$"""{"name": "expired", "scopes": ["models"], "expires_at": {{past}}}""");
        var expired = await SendAsync("GET", "/v1/models", b!["key"]!.GetValue<string>(), external: true);
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Contains("expired", ErrorAssert.IsOpenAIError(await Body(expired), "invalid_api_key")["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_database_never_holds_a_whole_key()
    {
        var all = _keys.Values.ToList();
        for (var i = 0; i < 5; i++)
        {
            var (_, body) = await _server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "x"}""");
            all.Add(body!["key"]!.GetValue<string>());
        }
        foreach (var key in all)
        {
            await SendAsync("GET", "/v1/models", key, external: true);
        }
        var bytes = new List<byte>();
        foreach (var file in Directory.GetFiles(_server.DataDir, "codex-api-server.db*"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            bytes.AddRange(memory.ToArray());
        }
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        Assert.Contains(all[0][..12], text); // the display prefix is stored: the reader works
        Assert.All(all, key => Assert.DoesNotContain(key, text));
        Assert.DoesNotContain(_server.Settings.Config.MasterKey!, text);
    }

    [Fact]
    public async Task Every_v1_request_writes_one_usage_row_with_its_key()
    {
        var usage = _server.App.Services.GetRequiredService<UsageLog>();
        var before = usage.Count();
        await SendAsync("GET", "/v1/models", _keys["models"], external: true);
        await SendAsync("GET", "/v1/models", "cdx_bad_bad_bad_bad_bad_bad_bad_bad", external: true, address: "192.0.2.99");
        await SendAsync("GET", "/v1/nope");
        Assert.Equal(before + 3, usage.Count());
        var byKey = usage.TotalsByKey(0);
        var id = (await _server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys")).Body!["data"]!.AsArray().Single(k => k!["name"]!.GetValue<string>() == "models key")!["id"]!.GetValue<string>();
        Assert.Equal(1, byKey.Single(k => k.ApiKeyId == id).Requests);
    }

    private static async Task<JsonNode?> Body(HttpResponseMessage response) => JsonNode.Parse(await response.Content.ReadAsStringAsync());
}
