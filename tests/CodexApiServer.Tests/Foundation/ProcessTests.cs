using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Foundation;

/// <summary>The server as a user runs it: a process with arguments, an exit code, signals.</summary>
public sealed class ProcessTests : IDisposable
{
    private readonly string _dir = TempDir.Create("process");

    public void Dispose() => TempDir.Delete(_dir);

    [Fact]
    public async Task Help_and_version_print_and_exit_zero()
    {
        using var help = ServerProcess.Start(["--help"]);
        Assert.Equal(0, await help.WaitExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("--data-dir DIR", help.Stdout);
        Assert.Contains("CODEX_API_SERVER_PORT", help.Stdout);

        using var version = ServerProcess.Start(["--version"]);
        Assert.Equal(0, await version.WaitExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Matches(@"^codex-api-server \d+\.\d+\.\d+", version.Stdout);
    }

    [Fact]
    public async Task A_port_in_use_ends_with_one_line_naming_the_port_and_the_fix()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        using var server = ServerProcess.Start(["--port", port.ToString(), "--data-dir", _dir]);
        var exit = await server.WaitExitAsync(TimeSpan.FromSeconds(30));

        Assert.NotEqual(0, exit);
        AssertOneLineError(server.Stderr, $"port {port}", "--port");
    }

    [Fact]
    public async Task An_unwritable_data_dir_ends_with_one_line()
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        using var server = ServerProcess.Start(["--port", "0", "--data-dir", Path.Combine(file, "sub")]);
        Assert.NotEqual(0, await server.WaitExitAsync(TimeSpan.FromSeconds(30)));
        AssertOneLineError(server.Stderr, "not writable", "--data-dir");
    }

    [Fact]
    public async Task An_invalid_config_value_ends_with_one_line()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"port": "eighty"}""");
        using var server = ServerProcess.Start(["--data-dir", _dir]);
        Assert.NotEqual(0, await server.WaitExitAsync(TimeSpan.FromSeconds(30)));
        AssertOneLineError(server.Stderr, "config.json", "port");

        using var env = ServerProcess.Start(["--data-dir", _dir + "-2"], new Dictionary<string, string?> { ["CODEX_API_SERVER_PORT"] = "99999" });
        Assert.NotEqual(0, await env.WaitExitAsync(TimeSpan.FromSeconds(30)));
        AssertOneLineError(env.Stderr, "CODEX_API_SERVER_PORT", "99999");
        TempDir.Delete(_dir + "-2");
    }

    [Fact]
    public async Task Master_key_command_prints_the_generated_key()
    {
        using var first = ServerProcess.Start(["master-key", "--data-dir", _dir]);
        Assert.Equal(0, await first.WaitExitAsync(TimeSpan.FromSeconds(30)));
        var key = first.Stdout.Trim();
        Assert.Matches("^msk_[A-Za-z0-9_-]{43}$", key);
        Assert.Equal(key, JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")))!["masterKey"]!.GetValue<string>());
    }

    [Fact]
    public async Task Acknowledged_writes_survive_SIGKILL_and_the_database_stays_intact()
    {
        var ids = new List<string>();
        using (var server = ServerProcess.Start(["--port", "0", "--data-dir", _dir]))
        {
            using var client = new HttpClient { BaseAddress = await server.WaitListeningAsync() };
            var writers = Enumerable.Range(0, 4).Select(async w =>
            {
                var mine = new List<string>();
                for (var i = 0; i < 25; i++)
                {
                    var response = await client.PostAsync("/v1/api-keys", Json($"{{\"name\": \"k{w}-{i}\"}}"));
                    Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                    mine.Add(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
                }
                return mine;
            }).ToList();
            foreach (var list in await Task.WhenAll(writers))
            {
                ids.AddRange(list);
            }
            // Killed the moment the last write was acknowledged: no clean shutdown, no checkpoint.
            server.Signal(ServerProcess.SigKill);
            await server.WaitExitAsync(TimeSpan.FromSeconds(10));
        }

        using (var restarted = ServerProcess.Start(["--port", "0", "--data-dir", _dir]))
        {
            using var client = new HttpClient { BaseAddress = await restarted.WaitListeningAsync() };
            var list = JsonNode.Parse(await client.GetStringAsync("/v1/api-keys"))!["data"]!.AsArray();
            var stored = list.Select(k => k!["id"]!.GetValue<string>()).ToHashSet();
            Assert.Equal(100, ids.Count);
            Assert.All(ids, id => Assert.Contains(id, stored));
            restarted.Signal(ServerProcess.SigTerm);
            Assert.Equal(0, await restarted.WaitExitAsync(TimeSpan.FromSeconds(20)));
        }

        using var connection = new CodexApiServer.Storage.Database(Path.Combine(_dir, "codex-api-server.db")).Open();
        using var check = connection.CreateCommand();
        check.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", check.ExecuteScalar());
        check.CommandText = "PRAGMA user_version";
        Assert.Equal((long)CodexApiServer.Storage.Database.SchemaVersion, check.ExecuteScalar());
    }

    [Fact]
    public async Task A_background_response_cut_off_by_SIGKILL_is_failed_at_the_next_start_not_left_in_progress()
    {
        await using var upstream = await MockResponsesUpstream.StartAsync();
        upstream.DeltaDelay = TimeSpan.FromSeconds(30); // the turn is still running when the server dies
        var environment = new Dictionary<string, string?>(upstream.CodexEnvironment(maxRetries: 1));
        File.WriteAllText(Path.Combine(_dir, "config.json"), $$"""{"codexPath": "{{RealClis.Codex}}", "claudePath": "/nonexistent/claude"}""");
        string id;
        var children = new List<int>();
        try
        {
            using (var server = ServerProcess.Start(["--port", "0", "--data-dir", _dir], environment))
            {
                using var client = new HttpClient { BaseAddress = await server.WaitListeningAsync() };
                var created = await client.PostAsync("/v1/responses", Json("""{"model": "gpt-5.2-codex", "input": "Hi", "background": true}"""));
                var body = JsonNode.Parse(await created.Content.ReadAsStringAsync())!;
                id = body["id"]!.GetValue<string>();
                Assert.True(await Providers.ClaudeTestHarness.WaitUntilAsync(() => upstream.Requests.Count > 0, TimeSpan.FromSeconds(30)), "the turn never reached the model");
                var running = JsonNode.Parse(await client.GetStringAsync("/v1/responses/" + id))!;
                Assert.Equal("in_progress", running["status"]!.GetValue<string>());
                children.AddRange(EndToEnd.Processes.Descendants(server.Pid));
                server.Signal(ServerProcess.SigKill);
                await server.WaitExitAsync(TimeSpan.FromSeconds(10));
            }

            using var restarted = ServerProcess.Start(["--port", "0", "--data-dir", _dir], environment);
            using var again = new HttpClient { BaseAddress = await restarted.WaitListeningAsync() };
            var after = JsonNode.Parse(await again.GetStringAsync("/v1/responses/" + id))!;
            Assert.Equal("failed", after["status"]!.GetValue<string>());
            Assert.Equal("server_error", after["error"]!["code"]!.GetValue<string>());
            Assert.Contains("stopped before this response finished", after["error"]!["message"]!.GetValue<string>());
            restarted.Signal(ServerProcess.SigTerm);
            Assert.Equal(0, await restarted.WaitExitAsync(TimeSpan.FromSeconds(20)));
        }
        finally
        {
            // Whatever the killed server left running is ours to end (this test started it).
            foreach (var pid in children.Where(IsAlive))
            {
                try
                {
                    System.Diagnostics.Process.GetProcessById(pid).Kill();
                }
                catch (ArgumentException)
                {
                }
            }
            TempDir.Delete(environment["CODEX_HOME"]!);
        }
    }

    [Theory]
    [InlineData(ServerProcess.SigTerm)]
    [InlineData(ServerProcess.SigInt)]
    public async Task A_signal_lets_the_in_flight_request_finish_ends_our_children_and_exits_zero(int signal)
    {
        // The probe runs this "codex" and it stays running: shutdown must end it.
        var pidFile = Path.Combine(_dir, "child.pid");
        var codex = FakeCli.Write("codex", $"echo $$ > '{pidFile}'\nexec sleep 300\n");
        File.WriteAllText(Path.Combine(_dir, "config.json"), $$"""{"codexPath": "{{codex}}"}""");
        using var server = ServerProcess.Start(["--port", "0", "--data-dir", _dir]);
        var address = await server.WaitListeningAsync();
        var childPid = await WaitForPidAsync(pidFile);
        Assert.True(IsAlive(childPid));

        // An upload in progress when the signal arrives.
        using var client = new HttpClient { BaseAddress = address };
        var body = new SlowJsonContent("""{"name": "in flight"}""", TimeSpan.FromMilliseconds(1500));
        var inFlight = client.PostAsync("/v1/api-keys", body);
        await body.Started;
        await Task.Delay(300); // the server has the headers and is reading the body
        server.Signal(signal);

        var response = await inFlight;
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(0, await server.WaitExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(IsAlive(childPid), $"child {childPid} outlived the server");
        // New connections are refused once it is gone.
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("/health"));
    }

    [Fact]
    public async Task Request_log_lines_carry_the_request_id_but_never_a_key_or_a_prompt()
    {
        using var server = ServerProcess.Start(["--port", "0", "--data-dir", _dir]);
        using var client = new HttpClient { BaseAddress = await server.WaitListeningAsync() };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/api-keys")
        {
            Content = Json("""{"name": "prompt-like secret text 12345"}"""),
        };
        // A placeholder a local client sends (ignored), and a wrong key of ours (refused): neither is logged.
        request.Headers.Authorization = new("Bearer", "sk-this_is_a_secret_placeholder_000");
        var response = await client.SendAsync(request);
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var key = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["key"]!.GetValue<string>();
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        wrong.Headers.Authorization = new("Bearer", "cdx_this_is_a_secret_key_value_000");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong)).StatusCode);
        server.Signal(ServerProcess.SigTerm);
        await server.WaitExitAsync(TimeSpan.FromSeconds(20));

        var line = Assert.Single(server.Stdout.Split('\n'), l => l.Contains(requestId));
        Assert.Contains("POST /v1/api-keys 201", line);
        Assert.Matches(@" \d+ms ", line);
        var all = server.Stdout + server.Stderr;
        Assert.DoesNotContain("cdx_this_is_a_secret", all);
        Assert.DoesNotContain("this_is_a_secret_placeholder", all);
        Assert.DoesNotContain(key, all);
        Assert.DoesNotContain("prompt-like secret", all);
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static void AssertOneLineError(string stderr, params string[] expected)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        foreach (var text in expected)
        {
            Assert.Contains(text, line);
        }
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
    }

    private static async Task<int> WaitForPidAsync(string file)
    {
        for (var i = 0; i < 200; i++)
        {
            if (File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), out var pid))
            {
                return pid;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("the fake CLI never started");
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");

    /// <summary>A JSON body sent in two halves with a pause between, so the request is in flight for a while.</summary>
    private sealed class SlowJsonContent(string json, TimeSpan pause) : HttpContent
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Started => _started.Task;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(json);
            await stream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
            await stream.FlushAsync();
            _started.SetResult();
            await Task.Delay(pause);
            await stream.WriteAsync(bytes.AsMemory(bytes.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = System.Text.Encoding.UTF8.GetByteCount(json);
            return true;
        }

        protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }
}
