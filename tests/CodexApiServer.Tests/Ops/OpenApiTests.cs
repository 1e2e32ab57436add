using System.Text.Json.Nodes;
using CodexApiServer.Endpoints;
using CodexApiServer.Tests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Ops;

public sealed class OpenApiTests
{
    [Fact]
    public async Task Every_mapped_route_is_in_the_document_with_a_summary_a_success_response_and_its_auth()
    {
        await using var server = await TestServer.StartAsync();
        var response = await server.Client.GetAsync("/openapi.json");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var doc = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var paths = doc["paths"]!.AsObject();

        var mapped = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Path: "/" + e.RoutePattern.RawText!.Trim('/'), Method: m.ToLowerInvariant())))
            .ToList();
        Assert.True(mapped.Count > 35, $"only {mapped.Count} routes found");
        var missing = mapped.Where(r => paths[r.Path]?[r.Method] is null).ToList();
        Assert.True(missing.Count == 0, "routes missing from /openapi.json: " + string.Join(", ", missing));
        var documented = paths.SelectMany(p => p.Value!.AsObject().Select(m => (Path: p.Key, Method: m.Key))).ToList();
        Assert.Equal(mapped.Count, documented.Count);

        foreach (var (path, method) in mapped)
        {
            var op = paths[path]![method]!;
            Assert.False(string.IsNullOrWhiteSpace((string?)op["summary"]), $"{method} {path} has no summary (.WithSummary)");
            var statuses = op["responses"]!.AsObject().Select(r => r.Key).ToList();
            Assert.True(statuses.Any(s => s[0] is '2' or '3'), $"{method} {path} declares no success response (.Produces)");
            Assert.Contains("default", statuses);
        }

        // Auth: a keyed route names its scope in both schemes and its 401/403; a public one needs nothing.
        var chat = paths["/v1/chat/completions"]!["post"]!;
        Assert.Equal("chat", (string?)chat["security"]![0]!["bearer"]![0]);
        Assert.Equal("chat", (string?)chat["security"]![1]!["apiKey"]![0]);
        Assert.Equal("#/components/schemas/ErrorBody", (string?)chat["responses"]!["401"]!["content"]!["application/json"]!["schema"]!["$ref"]);
        Assert.Equal("#/components/schemas/ChatCompletionRequest", (string?)chat["requestBody"]!["content"]!["application/json"]!["schema"]!["$ref"]);
        Assert.Equal("#/components/schemas/ChatChunk", (string?)chat["responses"]!["200"]!["content"]!["text/event-stream"]!["schema"]!["$ref"]);
        Assert.Empty(paths["/health"]!["get"]!["security"]!.AsArray());
        Assert.Equal("admin", (string?)paths["/v1/api-keys/{id}"]!["patch"]!["x-required-scope"]);
        Assert.Equal(["id:path", "since:query"], paths["/v1/api-keys/{id}/usage"]!["get"]!["parameters"]!.AsArray().Select(p => $"{p!["name"]}:{p["in"]}"));
        Assert.Equal("integer", (string?)paths["/admin/logs"]!["get"]!["parameters"]![0]!["schema"]!["type"]);
        Assert.Equal("#/components/schemas/AnthropicErrorBody", (string?)paths["/v1/messages"]!["post"]!["responses"]!["default"]!["content"]!["application/json"]!["schema"]!["$ref"]);

        // The schemas are the wire's: snake_case names from the same JSON context.
        var request = doc["components"]!["schemas"]!["ChatCompletionRequest"]!["properties"]!.AsObject();
        Assert.Contains("messages", request.Select(p => p.Key));
        Assert.Contains("parallel_tool_calls", request.Select(p => p.Key));
        Assert.NotNull(doc["components"]!["securitySchemes"]!["bearer"]);
    }

    [Fact]
    public async Task The_document_validates_and_docs_renders_it_offline_in_a_real_browser()
    {
        await using var server = await TestServer.StartAsync();
        var (exit, output) = await NodeScript.RunAsync("openapi-check.mjs", [server.BaseAddress.ToString().TrimEnd('/')], TimeSpan.FromSeconds(90));
        NodeScript.AssertPassed(exit, output, "openapi-check.mjs");
        Assert.Contains("6/6 checks passed", output);
    }

    [Fact]
    public async Task Docs_and_the_document_are_public_from_outside_as_the_console_pages_are()
    {
        await using var server = await TestServer.StartAsync();
        foreach (var path in new[] { "/openapi.json", "/docs" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("X-Forwarded-For", "203.0.113.9");
            using var response = await server.Client.SendAsync(request);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal("DENY", (await server.Client.GetAsync("/docs")).Headers.GetValues("X-Frame-Options").Single());
    }
}
