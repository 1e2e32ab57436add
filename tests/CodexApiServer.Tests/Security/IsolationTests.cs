using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Api;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

/// <summary>A non-admin key sees only the responses it created; admins and local callers see all.</summary>
public sealed class IsolationTests
{
    [Fact]
    public async Task A_key_cannot_see_touch_or_continue_another_keys_responses()
    {
        await using var server = await ApiServer.StartAsync(new FakeProvider());
        async Task<string> NewKey(string scopes)
        {
            var (_, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", $$"""{"name": "k", "scopes": [{{scopes}}]}""");
            return body!["key"]!.GetValue<string>();
        }
        var alice = await NewKey("\"responses\", \"chat\"");
        var bob = await NewKey("\"responses\", \"chat\"");
        var admin = await NewKey("\"admin\"");

        async Task<(HttpStatusCode Status, JsonNode? Body)> As(string key, HttpMethod method, string path, string? json = null)
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Authorization = new("Bearer", key);
            request.Headers.Add("X-Forwarded-For", "203.0.113.20");
            if (json is not null)
            {
                request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            }
            var response = await server.Client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null);
        }

        var (created, response) = await As(alice, HttpMethod.Post, "/v1/responses", """{"model": "gpt-5.2-codex", "input": "alice's secret"}""");
        Assert.Equal(HttpStatusCode.OK, created);
        var id = response!["id"]!.GetValue<string>();
        var (chatCreated, chat) = await As(alice, HttpMethod.Post, "/v1/chat/completions", """{"model": "gpt-5.2-codex", "messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, chatCreated);
        var chatId = chat!["id"]!.GetValue<string>();

        // Alice sees hers.
        Assert.Equal(HttpStatusCode.OK, (await As(alice, HttpMethod.Get, $"/v1/responses/{id}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await As(alice, HttpMethod.Get, $"/v1/responses/{id}/input_items")).Status);
        Assert.Contains(id, (await As(alice, HttpMethod.Get, "/v1/responses")).Body!.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, (await As(alice, HttpMethod.Get, $"/v1/chat/completions/{chatId}")).Status);

        // Bob sees nothing of it, by any route, and cannot continue it.
        Assert.Equal(HttpStatusCode.NotFound, (await As(bob, HttpMethod.Get, $"/v1/responses/{id}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await As(bob, HttpMethod.Get, $"/v1/responses/{id}/input_items")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await As(bob, HttpMethod.Post, $"/v1/responses/{id}/cancel")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await As(bob, HttpMethod.Delete, $"/v1/responses/{id}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await As(bob, HttpMethod.Get, $"/v1/chat/completions/{chatId}")).Status);
        var (continued, _) = await As(bob, HttpMethod.Post, "/v1/responses", $$"""{"model": "gpt-5.2-codex", "input": "more", "previous_response_id": "{{id}}"}""");
        Assert.Equal(HttpStatusCode.NotFound, continued);
        var bobList = (await As(bob, HttpMethod.Get, "/v1/responses")).Body!;
        Assert.DoesNotContain(id, bobList.ToJsonString());
        Assert.DoesNotContain("alice's secret", bobList.ToJsonString());

        // An admin key and a local caller see everything.
        Assert.Equal(HttpStatusCode.OK, (await As(admin, HttpMethod.Get, $"/v1/responses/{id}")).Status);
        Assert.Contains(id, (await As(admin, HttpMethod.Get, "/v1/responses")).Body!.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, (await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses/{id}")).Response.StatusCode);

        // Still there after Bob's attempt to delete it; Alice can delete it.
        Assert.Equal(HttpStatusCode.OK, (await As(alice, HttpMethod.Delete, $"/v1/responses/{id}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await As(admin, HttpMethod.Get, $"/v1/responses/{id}")).Status);
    }
}
