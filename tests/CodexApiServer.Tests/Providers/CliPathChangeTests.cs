using System.Net;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Api;
using CodexApiServer.Tests.EndToEnd;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>PATCH /admin/config with a new claudePath or codexPath: the old CLI's warm processes go, new turns use the new CLI.</summary>
public sealed class CliPathChangeTests : IDisposable
{
    private readonly string _dir = TempDir.Create("cli-path");

    public void Dispose() => TempDir.Delete(_dir);

    [Fact(Timeout = 60_000)]
    public async Task A_new_claudePath_ends_the_old_claudes_spares_and_idle_sessions_and_turns_use_the_new_one()
    {
        var oldClaude = Copy("fake-claude.mjs", "old");
        var newClaude = Copy("fake-claude.mjs", "new");
        await using var server = await TestServer.StartAsync($$"""{"claudePath": "{{oldClaude}}"}""");
        var (first, firstBody) = await Chat(server, "claude-sonnet-4-5", ("user", "hello"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        // A second new conversation: a key seen once keeps no spare, one seen twice keeps two (maxSparesPerModel).
        Assert.Equal(HttpStatusCode.OK, (await Chat(server, "claude-sonnet-4-5", ("user", "hello there"))).Response.StatusCode);
        // The conversations' processes and the spares started for the next, all from the old path.
        var old = await Processes.ListedAsync(server.Client, l => l.Count == 4);
        Assert.All(old, p => Assert.Contains(oldClaude, Processes.CommandLine(p.Pid)));
        Assert.Contains(old, p => p.Role == "spare");

        var (patch, _) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", $$"""{"claudePath": "{{newClaude}}"}""");
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        await Processes.AssertAllEndAsync(old.Select(p => p.Pid), TimeSpan.FromSeconds(5));

        // The conversation goes on (resumed) in the new claude, and so does a new one.
        var answer = (string)firstBody!["choices"]![0]!["message"]!["content"]!;
        var (next, _) = await Chat(server, "claude-sonnet-4-5", ("user", "hello"), ("assistant", answer), ("user", "again"));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        var (other, _) = await Chat(server, "claude-sonnet-4-5", ("user", "a new conversation"));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        var now = await Processes.ListedAsync(server.Client, l => l.Count >= 2);
        Assert.All(now, p => Assert.Contains(newClaude, Processes.CommandLine(p.Pid)));
        Assert.Contains(now, p => p.Role == "session" && Processes.CommandLine(p.Pid)!.Contains("--resume", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_new_codexPath_ends_the_old_app_server_and_its_spare_threads_and_turns_use_the_new_one()
    {
        var oldCodex = FakeCli.Write("codex", $"exec node '{Copy("fake-codex.mjs", "old")}' \"$@\"\n");
        var newScript = Copy("fake-codex.mjs", "new");
        var newCodex = FakeCli.Write("codex", $"exec node '{newScript}' \"$@\"\n");
        await using var server = await TestServer.StartAsync($$"""{"codexPath": "{{oldCodex}}"}""");
        var (first, _) = await Chat(server, "gpt-5.2-codex", ("user", "hello"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var old = Assert.Single(await Processes.ListedAsync(server.Client, l => l.Count == 1));
        Assert.Equal("app-server", old.Role);

        var (patch, _) = await server.SendJsonAsync(HttpMethod.Patch, "/admin/config", $$"""{"codexPath": "{{newCodex}}"}""");
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        await Processes.AssertAllEndAsync([old.Pid], TimeSpan.FromSeconds(5));

        var (next, _) = await Chat(server, "gpt-5.2-codex", ("user", "hello again"));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        var now = Assert.Single(await Processes.ListedAsync(server.Client, l => l.Count == 1));
        Assert.Contains(newScript, Processes.CommandLine(now.Pid));
    }

    private string Copy(string fake, string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        var path = Path.Combine(dir, fake);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fakes", fake), path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static Task<(HttpResponseMessage Response, JsonNode? Body)> Chat(TestServer server, string model, params (string Role, string Content)[] messages) =>
        server.SendJsonAsync(HttpMethod.Post, "/v1/chat/completions", Wire.Chat(model, stream: false, messages).ToJsonString());
}
