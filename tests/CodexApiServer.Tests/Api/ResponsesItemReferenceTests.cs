using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Api;

/// <summary>
/// item_reference input items (what the Vercel AI SDK sends for earlier output while store is on)
/// stand for the stored items they name.
/// </summary>
public sealed class ResponsesItemReferenceTests
{
    [Fact]
    public async Task References_to_stored_input_reasoning_and_message_items_continue_the_session_that_answered_them()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (first, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses",
            """{"model":"gpt-5.2-codex","input":"Hi","reasoning":{"summary":"auto"}}""");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var output = body!["output"]!.AsArray();
        Assert.Equal(["reasoning", "message"], output.Select(o => o!["type"]!.GetValue<string>()));
        var (_, inputItems) = await server.SendJsonAsync(HttpMethod.Get, $"/v1/responses/{body["id"]!.GetValue<string>()}/input_items");
        var inputId = Assert.Single(inputItems!["data"]!.AsArray())!["id"]!.GetValue<string>();

        var references = new JsonArray(
            Reference(inputId),
            Reference(output[0]!["id"]!.GetValue<string>()),
            Reference(output[1]!["id"]!.GetValue<string>()),
            new JsonObject { ["role"] = "user", ["content"] = "Again" });
        var request = new JsonObject { ["model"] = "gpt-5.2-codex", ["input"] = references };
        var (second, secondBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", request.ToJsonString());

        Assert.True(second.StatusCode == HttpStatusCode.OK, secondBody?.ToJsonString());
        Assert.Equal("Hello world", secondBody!["output"]![0]!["content"]![0]!["text"]!.GetValue<string>());
        // The references spell out the conversation the first response answered: its session goes on with the new message only.
        var sent = fake.Requests.Last();
        Assert.Equal("sess-1", sent.SessionId);
        Assert.Equal(
            [("user", "Again")],
            sent.Messages.Select(m => (m.Role, string.Concat(m.Parts.OfType<TextPart>().Select(p => p.Text)))));
    }

    [Fact]
    public async Task Unknown_unstored_and_malformed_references_are_400_naming_the_item()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var (_, unstored) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi","store":false}""");
        var unstoredId = unstored!["output"]![0]!["id"]!.GetValue<string>();
        var (_, stored) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""");
        // The right response, but an item it does not have.
        var wrongItem = stored!["output"]![0]!["id"]!.GetValue<string>() + "9";
        var requestsBefore = fake.Requests.Count;

        foreach (var id in new[] { unstoredId, wrongItem, "msg_0123", "msg_", "x", "msg_00000000000000000000000000000000_o0" })
        {
            var request = new JsonObject
            {
                ["model"] = "gpt-5.2-codex",
                ["input"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }, Reference(id)),
            };
            var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", request.ToJsonString());
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("input[1].id", body!["error"]!["param"]!.GetValue<string>());
            Assert.Equal("not_found", body["error"]!["code"]!.GetValue<string>());
            Assert.Contains(id, body["error"]!["message"]!.GetValue<string>());
        }
        var (missing, missingBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":[{"type":"item_reference"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("input[0].id", missingBody!["error"]!["param"]!.GetValue<string>());
        Assert.Equal(requestsBefore, fake.Requests.Count);
    }

    [Fact]
    public async Task Another_keys_items_are_not_found()
    {
        var fake = new FakeProvider();
        await using var server = await ApiServer.StartAsync(fake);
        var keys = new List<string>();
        foreach (var name in new[] { "a", "b" })
        {
            var (_, created) = await server.SendJsonAsync(HttpMethod.Post, "/v1/api-keys", $$"""{"name":"{{name}}","scopes":["responses"]}""");
            keys.Add(created!["key"]!.GetValue<string>());
        }
        var (_, first) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", """{"model":"gpt-5.2-codex","input":"Hi"}""", bearer: keys[0]);
        var itemId = first!["output"]![0]!["id"]!.GetValue<string>();
        var request = new JsonObject { ["model"] = "gpt-5.2-codex", ["input"] = new JsonArray(Reference(itemId), new JsonObject { ["role"] = "user", ["content"] = "Again" }) };

        var (other, otherBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", request.ToJsonString(), bearer: keys[1]);
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode);
        Assert.Equal("not_found", otherBody!["error"]!["code"]!.GetValue<string>());

        var (same, sameBody) = await server.SendJsonAsync(HttpMethod.Post, "/v1/responses", request.ToJsonString(), bearer: keys[0]);
        Assert.True(same.StatusCode == HttpStatusCode.OK, sameBody?.ToJsonString());
    }

    private static JsonObject Reference(string id) => new() { ["type"] = "item_reference", ["id"] = id };
}
