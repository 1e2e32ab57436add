using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Foundation;

public sealed class HttpBasicsTests
{
    [Fact]
    public async Task Malformed_json_is_a_400_OpenAI_error()
    {
        await using var server = await TestServer.StartAsync();
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": """);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "invalid_json");
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        foreach (var broken in new[] { "not json", "{\"name\": \"x\",}", "[1, 2" })
        {
            var (r, b) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", broken);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            ErrorAssert.IsOpenAIError(b, "invalid_json");
        }
    }

    [Fact]
    public async Task A_wrong_field_type_is_a_400_naming_the_field()
    {
        await using var server = await TestServer.StartAsync();
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", """{"name": "x", "requests_per_minute": "fast"}""");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "invalid_type");
        Assert.Equal("requests_per_minute", error["param"]!.GetValue<string>());
        Assert.Contains("requests_per_minute", error["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        await using var server = await TestServer.StartAsync("""{"maxRequestBodyBytes": 2048}""");
        var big = "{\"name\":\"" + new string('a', 5000) + "\"}";
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        ErrorAssert.IsOpenAIError(body, "request_too_large");

        // Just under the limit is read normally (and rejected for its own reason).
        var (ok, _) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", "{\"name\":\"" + new string('a', 1000) + "\"}");
        Assert.Equal(HttpStatusCode.BadRequest, ok.StatusCode);
    }

    [Fact]
    public async Task Unknown_v1_route_is_404_and_wrong_method_is_405()
    {
        await using var server = await TestServer.StartAsync();
        var (notFound, body404) = await server.SendJsonAsync(HttpMethod.Get, "/v1/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        ErrorAssert.IsOpenAIError(body404, "unknown_url");

        var (wrong, body405) = await server.SendJsonAsync(HttpMethod.Delete, "/v1/models");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrong.StatusCode);
        ErrorAssert.IsOpenAIError(body405, "method_not_allowed");
    }

    [Fact]
    public async Task An_unexpected_exception_is_a_500_without_a_stack_trace_logged_with_the_request_id()
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(beforeStart: app =>
        {
            app.MapGet("/v1/test-throws", string () => throw new InvalidOperationException("secret internals at Foo.Bar()"));
        }, logging: logs);
        var (response, body) = await server.SendJsonAsync(HttpMethod.Get, "/v1/test-throws");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "server_error");
        var text = body!.ToJsonString();
        Assert.DoesNotContain("secret internals", text);
        Assert.DoesNotContain(" at ", text);
        var requestId = Assert.Single(response.Headers.GetValues("x-request-id"));
        Assert.Contains(requestId, error["message"]!.GetValue<string>());
        Assert.Contains(logs.Lines, l => l.Contains(requestId) && l.Contains("secret internals"));
    }

    [Fact]
    public async Task Every_response_carries_a_unique_request_id()
    {
        await using var server = await TestServer.StartAsync();
        var ids = new List<string>();
        foreach (var path in new[] { "/health", "/v1/models", "/v1/nope", "/v1/models/nope" })
        {
            var response = await server.Client.GetAsync(path);
            ids.Add(Assert.Single(response.Headers.GetValues("x-request-id")));
        }
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^req_[0-9a-f]{24}$", id));
    }

    [Fact]
    public async Task Models_list_has_both_providers_aliases_and_configured_models()
    {
        await using var server = await TestServer.StartAsync("""{"models": [{"id": "my-local-model", "provider": "codex"}]}""");
        var (response, body) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("list", body!["object"]!.GetValue<string>());
        var data = body["data"]!.AsArray().Select(m => m!.AsObject()).ToList();
        var ids = data.Select(m => m["id"]!.GetValue<string>()).ToList();
        foreach (var id in new[] { "gpt-5.2-codex", "gpt-4o-mini", "claude-sonnet-4-5", "claude-opus-4", "opus", "sonnet", "haiku", "my-local-model" })
        {
            Assert.Contains(id, ids);
        }
        Assert.All(data, m =>
        {
            Assert.Equal("model", m["object"]!.GetValue<string>());
            Assert.Equal("number", m["created"].Kind());
            Assert.True(m["created"]!.GetValue<long>() > 1_600_000_000);
        });
        Assert.Equal("anthropic", data.Single(m => m["id"]!.GetValue<string>() == "sonnet")["owned_by"]!.GetValue<string>());
        Assert.Equal("openai", data.Single(m => m["id"]!.GetValue<string>() == "gpt-5.2-codex")["owned_by"]!.GetValue<string>());
    }

    [Fact]
    public async Task One_model_by_id_and_unknown_is_model_not_found()
    {
        await using var server = await TestServer.StartAsync();
        var (ok, model) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models/claude-haiku");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("claude-haiku", model!["id"]!.GetValue<string>());
        Assert.Equal("anthropic", model["owned_by"]!.GetValue<string>());

        foreach (var id in new[] { "gpt-99-imaginary", "bad%20name" })
        {
            var (missing, body) = await server.SendJsonAsync(HttpMethod.Get, "/v1/models/" + id);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            ErrorAssert.IsOpenAIError(body, "model_not_found");
        }
    }

    [Fact]
    public async Task Health_reports_cli_tunnel_and_storage_without_waiting_on_a_slow_cli()
    {
        // A "codex" that takes 30 s to print its version: /health must answer at once regardless.
        // It says when it runs, so /health is asked while the probe is waiting on it.
        var running = Path.Combine(Path.GetTempPath(), $"slow-codex-{Guid.NewGuid():N}.running");
        var bin = FakeCli.Write("slow-codex", $"echo $$ > '{running}'\nsleep 30\necho 'codex-cli 9.9.9'\n");
        await using var server = await TestServer.StartAsync($$"""{"codexPath": "{{bin}}", "claudePath": "/nonexistent/claude"}""");
        Assert.True(await ClaudeTestHarness.WaitUntilAsync(() => File.Exists(running), TimeSpan.FromSeconds(10)), "the probe never ran the slow codex");
        var watch = Stopwatch.StartNew();
        var (response, body) = await server.SendJsonAsync(HttpMethod.Get, "/health");
        watch.Stop();
        File.Delete(running);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.ElapsedMilliseconds < 2000, $"/health took {watch.ElapsedMilliseconds} ms");
        Assert.Equal("ok", body!["status"]!.GetValue<string>());
        Assert.Equal("number", body["uptime_seconds"].Kind());
        Assert.False(string.IsNullOrEmpty(body["version"]!.GetValue<string>()));
        var claude = body["providers"]!["claude"]!;
        Assert.False(claude["found"]!.GetValue<bool>());
        Assert.Contains("npm install -g @anthropic-ai/claude-code", claude["error"]!.GetValue<string>());
        var codex = body["providers"]!["codex"]!;
        Assert.Equal(bin, codex["path"]!.GetValue<string>());
        Assert.Null(codex["version"]); // the probe was still waiting on it
        Assert.Equal("stopped", body["tunnel"]!["state"]!.GetValue<string>());
        Assert.Equal("ok", body["storage"]!["state"]!.GetValue<string>());
        Assert.Equal("wal", body["storage"]!["journal_mode"]!.GetValue<string>());
    }

    [Fact]
    public async Task Health_shows_version_and_login_state_once_probed()
    {
        var codex = FakeCli.Write("codex", "case \"$1\" in --version) echo 'codex-cli 1.2.3';; login) echo 'Not logged in'; exit 1;; esac\n");
        var claude = FakeCli.Write("claude", "case \"$1\" in --version) echo '2.0.0 (Claude Code)';; auth) echo '{\"loggedIn\": true}';; esac\n");
        await using var server = await TestServer.StartAsync($$"""{"codexPath": "{{codex}}", "claudePath": "{{claude}}"}""");
        JsonNode? body = null;
        for (var i = 0; i < 100; i++)
        {
            (_, body) = await server.SendJsonAsync(HttpMethod.Get, "/health");
            if (body!["providers"]!["codex"]!["version"] is not null && body["providers"]!["claude"]!["version"] is not null)
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal("codex-cli 1.2.3", body!["providers"]!["codex"]!["version"]!.GetValue<string>());
        Assert.False(body["providers"]!["codex"]!["logged_in"]!.GetValue<bool>());
        Assert.Contains("codex login", body["providers"]!["codex"]!["error"]!.GetValue<string>());
        Assert.Equal("2.0.0 (Claude Code)", body["providers"]!["claude"]!["version"]!.GetValue<string>());
        Assert.True(body["providers"]!["claude"]!["logged_in"]!.GetValue<bool>());
    }
}
