using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Storage;
using CodexApiServer.Tests.Api;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

/// <summary>The console's history listing and the settings description it is generated from.</summary>
public sealed class AdminHistoryTests
{
    [Fact]
    public void Every_config_key_has_a_meaning_for_the_settings_page()
    {
        Assert.Empty(ConfigSchema.Undescribed);
        Assert.Contains(ConfigSchema.Fields, f => f.Key == "corsOrigins" && f.Type == "string_list");
        Assert.Contains(ConfigSchema.Fields, f => f.Key == "mode" && f.Restart && f.Choices!.SequenceEqual(["chat", "agent"]));
        Assert.Contains(ConfigSchema.Fields, f => f.Key == "memoryBudgetMb" && f.Type == "integer" && f.Nullable);
        Assert.Equal(["masterKey", "tunnelToken"], ConfigSchema.SecretKeys);
    }

    [Fact]
    public async Task Bad_settings_come_back_by_field()
    {
        await using var server = await TestServer.StartAsync("{}");
        var (response, body) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"port": 70000, "mode": "fast", "queueTimeoutSeconds": "soon"}""");
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("queueTimeoutSeconds", (string?)body!["problems"]![0]!["key"]);
        (response, body) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"port": 70000, "mode": "fast"}""");
        ErrorAssert.IsOpenAIError(body, "invalid_value");
        Assert.Equal(["port", "mode"], body!["problems"]!.AsArray().Select(p => (string)p!["key"]!));
        Assert.Equal("port", (string?)body["error"]!["param"]);
    }

    [Fact]
    public async Task Three_thousand_rows_page_through_newest_first_each_once_and_filter()
    {
        await using var server = await TestServer.StartAsync("{}");
        var store = server.App.Services.GetRequiredService<ResponseStore>();
        for (var i = 0; i < 3000; i++)
        {
            // Many rows share a second: the cursor must order by id within it.
            var chat = i % 3 == 0;
            var body = chat
                ? $$$"""{"id":"chatcmpl-{{{i:D5}}}","object":"chat.completion","choices":[{"message":{"content":"answer {{{i}}}"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"""
                : $$$"""{"id":"resp_{{{i:D5}}}","object":"response","output_text":"answer {{{i}}}","completed_at":{{{1_700_000_000 + i / 10 + 2}}},"usage":{"input_tokens":5,"output_tokens":6}}""";
            store.Save(new StoredResponse(chat ? $"chatcmpl-{i:D5}" : $"resp_{i:D5}", chat ? "chat.completion" : "response", 1_700_000_000 + i / 10,
                i % 7 == 0 ? "failed" : "completed", i % 2 == 0 ? "gpt-5.2-codex" : "claude-sonnet-4-5", i % 2 == 0 ? "codex" : "claude",
                null, !chat && i > 0 && (i - 1) % 3 != 0 ? $"resp_{i - 1:D5}" : null, null, $$"""[{"role":"user","content":"question {{i}}"}]""", body));
        }
        var seen = new List<string>();
        string? before = null;
        do
        {
            var (_, page) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history?limit=200" + (before is null ? "" : "&before=" + Uri.EscapeDataString(before)));
            seen.AddRange(page!["data"]!.AsArray().Select(r => (string)r!["id"]!));
            before = (string?)page["next_before"];
        }
        while (before is not null);
        Assert.Equal(3000, seen.Count);
        Assert.Equal(3000, seen.Distinct().Count());
        Assert.Equal(["resp_02999", "resp_02998", "resp_02996"], seen.Take(3));

        var (_, filtered) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history?object=response&model=claude-sonnet-4-5&status=failed&q=question%202989");
        var only = Assert.Single(filtered!["data"]!.AsArray());
        Assert.Equal("resp_02989", (string?)only!["id"]);
        Assert.Equal("answer 2989", (string?)only["preview"]);

        var (_, detail) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history/resp_02999");
        Assert.Equal(["resp_02998"], detail!["chain"]!.AsArray().Select(c => (string)c!["id"]!));
        // Rows without a request id (as from before the column) have only created and completed.
        Assert.Equal(2000, (long)detail["summary"]!["latency_ms"]!);

        var (deleted, _) = await server.SendJsonAsync(HttpMethod.Delete, "/admin/history/chatcmpl-02997");
        Assert.Equal(200, (int)deleted.StatusCode);
        Assert.Null(store.Find("chatcmpl-02997"));
        var (missing, error) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history?before=nonsense");
        Assert.Equal(400, (int)missing.StatusCode);
        ErrorAssert.IsOpenAIError(error);
    }

    [Fact]
    public async Task A_chat_completion_and_a_response_show_their_own_request_s_latency()
    {
        var fake = new FakeProvider();
        fake.Script = (request, ct) => fake.Reply(request, ct, TimeSpan.FromMilliseconds(150), "Hello", " there");
        await using var server = await ApiServer.StartAsync(fake);
        using var chat = await server.PostAsync("/v1/chat/completions", """{"model":"gpt-5.2-codex","store":true,"messages":[{"role":"user","content":"hi"}]}""");
        var chatId = (string)JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["id"]!;
        using var response = await server.PostAsync("/v1/responses", """{"model":"gpt-5.2-codex","input":"hi"}""");
        var responseId = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!;

        var usage = server.App.Services.GetRequiredService<UsageLog>();
        foreach (var (id, request) in new[] { (chatId, chat), (responseId, response) })
        {
            var requestId = request.Headers.GetValues("x-request-id").Single();
            // The usage row is written as the request ends, a moment after its last byte.
            long latency = 0;
            for (var tries = 0; tries < 100 && !usage.LatencyOf([requestId]).TryGetValue(requestId, out latency); tries++)
            {
                await Task.Delay(20);
            }
            var (_, detail) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history/" + id);
            Assert.Equal(latency, (long)detail!["summary"]!["latency_ms"]!);
            Assert.InRange(latency, 250, 60_000);
            var (_, page) = await server.SendJsonAsync(HttpMethod.Get, "/admin/history");
            Assert.Equal(latency, (long)page!["data"]!.AsArray().Single(r => (string?)r!["id"] == id)!["latency_ms"]!);
        }
    }
}
