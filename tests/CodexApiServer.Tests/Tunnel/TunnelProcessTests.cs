using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Tests.Tunnel;

public sealed class TunnelProcessTests
{
    private static string Config(FakeCloudflared fake, string extra = "") =>
        $$"""{"cloudflaredPath": "{{fake.Path}}"{{extra}}}""";

    private static Task<TestServer> StartServerAsync(string config, Action<TunnelOptions>? options = null) =>
        TestServer.StartAsync(config, beforeStart: app => options?.Invoke(app.Services.GetRequiredService<TunnelOptions>()));

    private static async Task<JsonNode> PostAsync(TestServer server, string path, string? json = null, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, path, json);
        Assert.True(expected == response.StatusCode, $"{path}: {(int)response.StatusCode} {body?.ToJsonString()}");
        return body!;
    }

    [Fact]
    public async Task Quick_tunnel_reports_the_created_trycloudflare_url_not_the_api_address()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake));
        var accepted = await PostAsync(server, "/admin/tunnel/start");
        Assert.Equal("quick", accepted.Str("mode"));

        var status = await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.Equal(fake.QuickUrl, status.Str("url"));
        Assert.Equal("quick", status.Str("mode"));
        Assert.NotNull(status.Str("since"));
        Assert.Equal(fake.Pids.Single(), status["pid"]!.GetValue<int>());
        Assert.Equal(0, status["restarts"]!.GetValue<int>());
        Assert.Equal(["tunnel", "--no-autoupdate", "--url", $"http://127.0.0.1:{server.BaseAddress.Port}"], fake.Argv);

        // Starting what already runs changes nothing.
        var again = await PostAsync(server, "/admin/tunnel/start", """{"mode":"quick"}""");
        Assert.Equal("running", again.Str("state"));
        Assert.Equal(status["pid"]!.GetValue<int>(), again["pid"]!.GetValue<int>());
        Assert.Single(fake.Pids);
    }

    [Fact]
    public async Task Named_tunnel_gets_the_token_only_through_the_environment()
    {
        const string token = "eyJhIjoiZmFrZS10dW5uZWwtdG9rZW4tZm9yLXRlc3RzIn0";
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake, $$""", "tunnelToken": "{{token}}", "tunnelCustomUrl": "https://api.example.com" """));
        var accepted = await PostAsync(server, "/admin/tunnel/start", "{}");
        Assert.Equal("named", accepted.Str("mode"));

        var status = await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.Equal("https://api.example.com", status.Str("url"));
        Assert.Equal("running", status.Str("message"));
        Assert.Equal(["tunnel", "--no-autoupdate", "run"], fake.Argv);
        Assert.DoesNotContain(fake.Argv, a => a.Contains(token));
        var cmdline = await File.ReadAllTextAsync($"/proc/{status["pid"]!.GetValue<int>()}/cmdline");
        Assert.DoesNotContain(token, cmdline);
        Assert.Contains("TUNNEL_TOKEN=" + token, fake.Environment);
        Assert.DoesNotContain(token, (await TunnelAssert.StatusAsync(server)).ToJsonString());
    }

    [Fact]
    public async Task Quick_mode_with_a_token_configured_does_not_pass_the_token()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake, """, "tunnelToken": "tok-should-not-leak" """));
        Assert.Equal("quick", (await PostAsync(server, "/admin/tunnel/start", """{"mode":"quick"}""")).Str("mode"));
        await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.DoesNotContain(fake.Environment, l => l.StartsWith("TUNNEL_TOKEN="));
        Assert.Equal("--url", fake.Argv[2]);
    }

    [Fact]
    public async Task Named_tunnel_is_ready_only_at_Registered_tunnel_connection_and_says_when_no_url_is_configured()
    {
        var fake = FakeCloudflared.Create();
        fake.Gate();
        // The server's log of cloudflared's output (Debug), to know when it has read all the fake prints before the gate.
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(Config(fake, """, "tunnelToken": "tok" """), logging: logs,
            configureServices: s => s.Configure<LoggerFilterOptions>(o => o.Rules.Add(new(typeof(CapturingLoggerProvider).FullName, typeof(TunnelManager).FullName, LogLevel.Debug, null))));
        await PostAsync(server, "/admin/tunnel/start", """{"mode":"named"}""");
        await TunnelAssert.WaitUntilAsync(() => logs.Lines.Any(l => l.Contains("cloudflared: ", StringComparison.Ordinal) && l.Contains("INF Starting metrics server", StringComparison.Ordinal)),
            "the server to read cloudflared's last line before the connection");
        var before = await TunnelAssert.StatusAsync(server);
        Assert.Equal("starting", before.Str("state"));
        Assert.Null(before.Str("url"));

        fake.Go();
        var status = await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.Null(status.Str("url"));
        Assert.Equal("running, URL not configured", status.Str("message"));
    }

    [Fact]
    public async Task Start_timeout_is_an_error_with_a_message_and_the_child_is_ended()
    {
        var fake = FakeCloudflared.Create();
        fake.Gate();
        await using var server = await StartServerAsync(Config(fake), o =>
        {
            o.StartTimeout = TimeSpan.FromSeconds(1.5);
            o.RestartBaseDelay = TimeSpan.FromSeconds(30);
        });
        await PostAsync(server, "/admin/tunnel/start");
        var status = await TunnelAssert.WaitForStateAsync(server, "error");
        var error = status.Str("last_error")!;
        Assert.Contains($"created {fake.QuickUrl} but registered no connection within 1.5 s", error);
        Assert.StartsWith(error, status.Str("message"));
        Assert.Contains("restarting in 30 s", status.Str("message"));
        Assert.NotNull(status.Str("next_restart_at"));
        await TunnelAssert.WaitGoneAsync(fake.Pids.Single());
    }

    [Fact]
    public async Task Crash_loop_restarts_with_doubling_delays_and_counts_restarts()
    {
        var fake = FakeCloudflared.Create();
        fake.Crash();
        await using var server = await StartServerAsync(Config(fake), o => o.RestartBaseDelay = TimeSpan.FromMilliseconds(200));
        await PostAsync(server, "/admin/tunnel/start");

        var status = await TunnelAssert.WaitForAsync(server, s => s["restarts"]!.GetValue<int>() >= 3);
        Assert.Contains("exited with code 1 before the tunnel was ready: fake cloudflared crashed on demand", status.Str("last_error"));
        await TunnelAssert.WaitUntilAsync(() => fake.Starts.Count >= 4, "the fourth start");
        var starts = fake.Starts;
        for (var i = 1; i < 4; i++)
        {
            var gap = TimeSpan.FromTicks((starts[i] - starts[i - 1]) / 100);
            var delay = TimeSpan.FromMilliseconds(200 * Math.Pow(2, i - 1));
            Assert.True(gap >= delay, $"restart {i} came after {gap.TotalMilliseconds} ms, before its back-off of {delay.TotalMilliseconds} ms");
        }

        fake.Crash(false);
        var healed = await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.True(healed["restarts"]!.GetValue<int>() >= 3);
        Assert.Contains("fake cloudflared crashed on demand", healed.Str("last_error"));
        Assert.Equal(fake.QuickUrl, healed.Str("url"));
    }

    [Fact]
    public async Task Unexpected_exit_while_running_restarts_it()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake), o => o.RestartBaseDelay = TimeSpan.FromMilliseconds(400));
        await PostAsync(server, "/admin/tunnel/start");
        var first = await TunnelAssert.WaitForStateAsync(server, "running");
        var firstPid = first["pid"]!.GetValue<int>();

        fake.Crash();
        var failed = await TunnelAssert.WaitForStateAsync(server, "error");
        fake.Crash(false);
        Assert.Contains("cloudflared exited unexpectedly with code 1: fake cloudflared crashed on demand", failed.Str("last_error"));
        Assert.Contains("restarting in 0.4 s", failed.Str("message"));
        Assert.Null(failed.Str("url"));

        var again = await TunnelAssert.WaitForAsync(server, s => s.Str("state") == "running" && s["restarts"]!.GetValue<int>() == 1);
        Assert.NotEqual(firstPid, again["pid"]!.GetValue<int>());
        Assert.Equal(2, fake.Pids.Count);
        Assert.False(TunnelAssert.IsAlive(firstPid));
    }

    [Fact]
    public async Task Stop_ends_only_our_cloudflared()
    {
        var fake = FakeCloudflared.Create();
        var otherDir = TempDir.Create("other-cloudflared");
        var info = new ProcessStartInfo(fake.Path) { UseShellExecute = false };
        foreach (var arg in new[] { "tunnel", "--no-autoupdate", "--url", "http://127.0.0.1:9" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["FAKE_CLOUDFLARED_DIR"] = otherDir;
        info.RedirectStandardError = true;
        using var other = Process.Start(info)!;
        try
        {
            await using var server = await StartServerAsync(Config(fake));
            await PostAsync(server, "/admin/tunnel/start");
            var running = await TunnelAssert.WaitForStateAsync(server, "running");
            var ours = running["pid"]!.GetValue<int>();
            Assert.NotEqual(other.Id, ours);

            var stopped = await PostAsync(server, "/admin/tunnel/stop", expected: HttpStatusCode.OK);
            Assert.Equal("stopped", stopped.Str("state"));
            Assert.Null(stopped["pid"]);
            Assert.Null(stopped.Str("url"));
            Assert.False(TunnelAssert.IsAlive(ours));
            await Task.Delay(300);
            Assert.True(TunnelAssert.IsAlive(other.Id), "the unrelated cloudflared was ended");
            Assert.False(other.HasExited);
            Assert.Single(fake.Pids);
        }
        finally
        {
            other.Kill(entireProcessTree: true);
            await other.WaitForExitAsync();
            TempDir.Delete(otherDir);
        }
    }

    [Fact]
    public async Task Stopping_the_server_ends_the_child()
    {
        var fake = FakeCloudflared.Create();
        var server = await StartServerAsync(Config(fake));
        int pid;
        try
        {
            await PostAsync(server, "/admin/tunnel/start");
            pid = (await TunnelAssert.WaitForStateAsync(server, "running"))["pid"]!.GetValue<int>();
            Assert.True(TunnelAssert.IsAlive(pid));
        }
        finally
        {
            await server.DisposeAsync();
        }
        await TunnelAssert.WaitGoneAsync(pid, 2);
    }

    [Fact]
    public async Task Auto_start_runs_the_tunnel_once_listening_and_health_shows_it()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake, """, "tunnelAutoStart": true """));
        Assert.NotEqual("stopped", (await TunnelAssert.StatusAsync(server)).Str("state")); // under way as soon as the server has started
        await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.Equal($"http://127.0.0.1:{server.BaseAddress.Port}", fake.Argv[3]);

        var (response, health) = await server.SendJsonAsync(HttpMethod.Get, "/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tunnel = health!["tunnel"]!;
        Assert.Equal("running", tunnel.Str("state"));
        Assert.Equal(fake.QuickUrl, tunnel.Str("url"));
        Assert.Equal(fake.Path, tunnel["cloudflared"]!.Str("path"));
    }

    [Fact]
    public async Task Without_auto_start_nothing_runs()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake));
        // Auto-start happens when the server has started (ApplicationStarted), before StartAsync returns:
        // Auto_start_runs_the_tunnel_once_listening_and_health_shows_it sees "starting" at this point.
        Assert.True(server.App.Lifetime.ApplicationStarted.IsCancellationRequested);
        var (_, health) = await server.SendJsonAsync(HttpMethod.Get, "/health");
        Assert.Equal("stopped", health!["tunnel"]!.Str("state"));
        Assert.Empty(fake.Pids);
    }

    [Fact]
    public async Task Sigterm_to_the_server_process_ends_its_auto_started_cloudflared()
    {
        var fake = FakeCloudflared.Create();
        var dataDir = TempDir.Create("tunnel-process");
        await File.WriteAllTextAsync(Path.Combine(dataDir, "config.json"), Config(fake, """, "tunnelAutoStart": true """));
        using var process = ServerProcess.Start(["--port", "0", "--data-dir", dataDir]);
        var address = await process.WaitListeningAsync();
        using var client = new HttpClient { BaseAddress = address };
        var sw = Stopwatch.StartNew();
        JsonNode? tunnel = null;
        while (sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            tunnel = JsonNode.Parse(await client.GetStringAsync("/health"))!["tunnel"];
            if (tunnel!.Str("state") == "running")
            {
                break;
            }
            await Task.Delay(50);
        }
        Assert.NotNull(tunnel);
        Assert.Equal("running", tunnel.Str("state"));
        Assert.Equal($"http://127.0.0.1:{address.Port}", fake.Argv[3]);
        var pid = tunnel["pid"]!.GetValue<int>();

        process.Signal(ServerProcess.SigTerm);
        var exit = await process.WaitExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, $"exit code {exit}; stderr: {process.Stderr}; stdout tail: {process.Stdout[^Math.Min(2000, process.Stdout.Length)..]}");
        await TunnelAssert.WaitGoneAsync(pid, 2);
        TempDir.Delete(dataDir);
    }

    [Fact]
    public async Task Missing_cloudflared_is_reported_with_the_install_command()
    {
        Assert.Null(CodexApiServer.Providers.CliProbe.Locate(null, "cloudflared")); // this test needs a machine without cloudflared on PATH
        await using var server = await StartServerAsync("""{"cloudflaredPath": "/nonexistent/cloudflared"}""");
        var (_, health) = await server.SendJsonAsync(HttpMethod.Get, "/health");
        var cloudflared = health!["tunnel"]!["cloudflared"]!;
        Assert.False(cloudflared["found"]!.GetValue<bool>());
        var hint = cloudflared.Str("install_hint")!;
        Assert.Contains("/nonexistent/cloudflared does not exist", hint);
        Assert.Contains("POST /admin/tunnel/install", hint);
        if (File.Exists("/etc/debian_version"))
        {
            Assert.Contains("https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-", hint);
            Assert.Contains(".deb", hint);
            Assert.Contains("apt-get install cloudflared", hint);
        }

        var (response, body) = await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/start");
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var error = ErrorAssert.IsOpenAIError(body, "cloudflared_not_found");
        Assert.Contains("cloudflared not found", error.Str("message"));
        var status = await TunnelAssert.StatusAsync(server);
        Assert.Equal("error", status.Str("state"));
        Assert.Contains("cloudflared not found", status.Str("message"));
    }

    [Fact]
    public async Task Bad_start_requests_are_400s()
    {
        var fake = FakeCloudflared.Create();
        await using var server = await StartServerAsync(Config(fake));
        var (r1, b1) = await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/start", """{"mode":"fast"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r1.StatusCode);
        Assert.Equal("mode", ErrorAssert.IsOpenAIError(b1)["param"]!.GetValue<string>());

        var (r2, b2) = await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/start", """{"mode":"named"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r2.StatusCode);
        ErrorAssert.IsOpenAIError(b2, "tunnel_token_missing");

        var (r3, b3) = await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/start", "nope");
        Assert.Equal(HttpStatusCode.BadRequest, r3.StatusCode);
        ErrorAssert.IsOpenAIError(b3, "invalid_json");
        Assert.Empty(fake.Pids);
        Assert.Equal("stopped", (await TunnelAssert.StatusAsync(server)).Str("state"));
    }
}
