using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Tunnel;

/// <summary>
/// A stand-in for cloudflared: prints on stderr what the real one prints (the quick tunnel box among
/// the other Cloudflare addresses, or a named tunnel's connection lines), records its argv and
/// environment, and misbehaves on demand through marker files in its folder:
/// <c>crash</c> (exit 1 now, or at start), <c>gate</c> (hold back "Registered tunnel connection" until <c>go</c> exists).
/// FAKE_CLOUDFLARED_DIR overrides the folder, so an unrelated copy can run beside ours.
/// </summary>
public sealed class FakeCloudflared
{
    public const string Version = "cloudflared version 2025.11.1 (built 2025-11-20-1143 UTC)";

    private FakeCloudflared(string dir, string path, string quickName)
    {
        Dir = dir;
        Path = path;
        QuickName = quickName;
    }

    public string Dir { get; }
    public string Path { get; }
    public string QuickName { get; }
    public string QuickUrl => $"https://{QuickName}.trycloudflare.com";

    public static FakeCloudflared Create()
    {
        var dir = TempDir.Create("cloudflared");
        var name = $"fake-{Guid.NewGuid().ToString("N")[..6]}-lemon-river";
        return new FakeCloudflared(dir, FakeCli.Write("cloudflared", Script(dir, name)), name);
    }

    /// <summary>The script text, for serving it as a download.</summary>
    public string ScriptText => File.ReadAllText(Path);

    public void Crash(bool on = true) => Marker("crash", on);
    public void Gate(bool on = true) => Marker("gate", on);
    public void Go() => Marker("go", true);

    public IReadOnlyList<string> Argv => ReadLines("argv");
    public IReadOnlyList<string> Environment => ReadLines("env");
    public IReadOnlyList<int> Pids => ReadLines("pids").Select(int.Parse).ToList();

    /// <summary>When each run started, in nanoseconds since the epoch.</summary>
    public IReadOnlyList<long> Starts => ReadLines("starts").Select(long.Parse).ToList();

    private void Marker(string name, bool on)
    {
        var file = System.IO.Path.Combine(Dir, name);
        if (on)
        {
            File.WriteAllText(file, "");
        }
        else
        {
            File.Delete(file);
        }
    }

    private IReadOnlyList<string> ReadLines(string name)
    {
        var file = System.IO.Path.Combine(Dir, name);
        return File.Exists(file) ? File.ReadAllLines(file).Where(l => l.Length > 0).ToList() : [];
    }

    private static string Script(string dir, string name) => $$"""
        dir="${FAKE_CLOUDFLARED_DIR:-{{dir}}}"
        if [ "$1" = "--version" ]; then echo "{{Version}}"; exit 0; fi
        date +%s%N >> "$dir/starts"
        : > "$dir/argv.tmp"
        for a in "$@"; do printf '%s\n' "$a" >> "$dir/argv.tmp"; done
        mv "$dir/argv.tmp" "$dir/argv"
        env > "$dir/env"
        echo $$ >> "$dir/pids"
        log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >&2; }
        named=0
        for a in "$@"; do [ "$a" = run ] && named=1; done
        if [ $named = 1 ]; then
          log "INF Starting tunnel tunnelID=2f0d6f8e-5a3c-4c21-9d38-0d8b4bb2f6a1"
          log "INF Version 2025.11.1 (Checksum 3b1a7e0f5d2c4e6b8a9f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f)"
          log "INF GOOS: linux, GOVersion: go1.24.9, GoArch: amd64"
          log "INF Settings: map[no-autoupdate:true]"
          log "INF cloudflared will not automatically update if installed by a package manager."
          log "INF Generated Connector ID: 7c1e9b52-3f0a-4d8e-a6b1-52c0e8f3d9a4"
          log "INF Initial protocol quic"
          log "INF ICMP proxy will use 192.168.1.20 as source for IPv4"
          log "INF Starting metrics server on 127.0.0.1:20241/metrics"
        else
          log "INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee, are subject to the Cloudflare Online Services Terms of Use (https://www.cloudflare.com/website-terms/), and Cloudflare reserves the right to investigate your use of Tunnels for violations of such terms. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps"
          log "INF Requesting new quick Tunnel on trycloudflare.com..."
          log "INF Settings: map[ha-connections:1 no-autoupdate:true quick-service:https://api.trycloudflare.com url:$4]"
          log "INF +--------------------------------------------------------------------------------------------+"
          log "INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"
          log "INF |  https://{{name}}.trycloudflare.com                                        |"
          log "INF +--------------------------------------------------------------------------------------------+"
          log "INF Cannot determine default configuration path. No file [config.yml config.yaml] in [~/.cloudflared ~/.cloudflare-warp ~/cloudflare-warp /etc/cloudflared /usr/local/etc/cloudflared]"
          log "INF Version 2025.11.1 (Checksum 3b1a7e0f5d2c4e6b8a9f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f)"
          log "INF GOOS: linux, GOVersion: go1.24.9, GoArch: amd64"
          log "INF Generated Connector ID: 7c1e9b52-3f0a-4d8e-a6b1-52c0e8f3d9a4"
          log "INF Initial protocol quic"
          log "INF Starting metrics server on 127.0.0.1:20241/metrics"
          log "INF Use https://api.trycloudflare.com only through cloudflared; see https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/do-more-with-tunnels/trycloudflare/"
        fi
        if [ -f "$dir/crash" ]; then
          log "ERR Serve tunnel error error=\"control stream encountered a failure while serving\" connIndex=0 event=0 ip=198.41.200.13"
          log "ERR fake cloudflared crashed on demand"
          exit 1
        fi
        if [ -f "$dir/gate" ]; then
          while [ ! -f "$dir/go" ]; do sleep 0.05; done
        fi
        log "INF Registered tunnel connection connIndex=0 connection=1b6e2a3c-8d4f-4e1a-9c7b-2f5d8e0a3b6c event=0 ip=198.41.200.13 location=fra08 protocol=quic"
        while [ ! -f "$dir/crash" ]; do sleep 0.1; done
        log "ERR fake cloudflared crashed on demand"
        exit 1

        """;
}

/// <summary>Reading the tunnel status, and whether a PID is still a live process.</summary>
public static class TunnelAssert
{
    public static async Task<JsonNode> StatusAsync(TestServer server)
    {
        var (response, body) = await server.SendJsonAsync(HttpMethod.Get, "/admin/tunnel/status");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return body!;
    }

    /// <summary>Polls the status until <paramref name="done"/> holds; fails with the last status seen.</summary>
    public static async Task<JsonNode> WaitForAsync(TestServer server, Func<JsonNode, bool> done, double seconds = 15)
    {
        var deadline = Stopwatch.StartNew();
        JsonNode status;
        do
        {
            status = await StatusAsync(server);
            if (done(status))
            {
                return status;
            }
            await Task.Delay(25);
        }
        while (deadline.Elapsed.TotalSeconds < seconds);
        Assert.Fail($"tunnel status did not reach the expected state within {seconds} s; last: {status.ToJsonString()}");
        return status;
    }

    public static Task<JsonNode> WaitForStateAsync(TestServer server, string state, double seconds = 15) =>
        WaitForAsync(server, s => s["state"]!.GetValue<string>() == state, seconds);

    public static string? Str(this JsonNode node, string key) => node[key]?.GetValue<string>();

    /// <summary>True while the PID is a process that has not ended (a zombie counts as ended).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static async Task WaitGoneAsync(int pid, double seconds = 10)
    {
        var sw = Stopwatch.StartNew();
        while (IsAlive(pid) && sw.Elapsed.TotalSeconds < seconds)
        {
            await Task.Delay(25);
        }
        Assert.False(IsAlive(pid), $"PID {pid} is still running");
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 15)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed.TotalSeconds < seconds, $"timed out waiting for {what}");
            await Task.Delay(25);
        }
    }
}
