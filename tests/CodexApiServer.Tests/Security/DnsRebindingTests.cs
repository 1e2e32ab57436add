using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

/// <summary>
/// A page on an attacker's name that re-resolves to 127.0.0.1 reaches the server from a loopback
/// peer with its own name in Host (and Origin): it must be neither local nor same-origin.
/// </summary>
public sealed class DnsRebindingTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await TestServer.StartAsync("""{"allowedHosts": ["myserver.lan"], "tunnelCustomUrl": "https://api.example.com"}""");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private int Port => _server.BaseAddress.Port;

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(string method, string path, string host, string? origin = null, string? json = null, string? key = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Host = host;
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key);
        }
        using var response = await _server.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_foreign_host_gets_no_data_makes_no_key_and_changes_no_setting()
    {
        var rebind = $"rebind.example:{Port}";
        var origin = $"http://{rebind}";
        var keysBefore = (await _server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys")).Body!["data"]!.AsArray().Count;
        var configBefore = File.ReadAllText(Path.Combine(_server.DataDir, "config.json"));

        foreach (var withOrigin in new[] { false, true })
        {
            var o = withOrigin ? origin : null;
            foreach (var path in new[] { "/admin/config", "/admin/master-key", "/health", "/admin", "/v1/models" })
            {
                var (status, body) = await SendAsync("GET", path, rebind, o);
                Assert.Equal(HttpStatusCode.Forbidden, status);
                Assert.DoesNotContain("msk_", body);
                var error = ErrorAssert.IsOpenAIError(JsonNode.Parse(body), "host_not_allowed");
                Assert.Contains("allowedHosts", error["message"]!.GetValue<string>());
            }
            Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync("POST", "/v1/api-keys", rebind, o, """{"name": "pwned", "scopes": ["admin"]}""")).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync("PATCH", "/admin/config", rebind, o, """{"corsOrigins": ["http://rebind.example"]}""")).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync("POST", "/admin/master-key/regenerate", rebind, o)).Status);
        }

        Assert.Equal(keysBefore, (await _server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys")).Body!["data"]!.AsArray().Count);
        Assert.Equal(configBefore, File.ReadAllText(Path.Combine(_server.DataDir, "config.json")));
    }

    [Theory]
    [InlineData("localhost:{port}")]
    [InlineData("127.0.0.1:{port}")]
    [InlineData("[::1]:{port}")]
    [InlineData("LOCALHOST")]
    [InlineData("myserver.lan:{port}")] // allowedHosts
    public async Task Loopback_names_and_allowed_hosts_are_local(string host)
    {
        var (status, body) = await SendAsync("GET", "/admin/config", host.Replace("{port}", Port.ToString()));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(JsonNode.Parse(body)!["master_key_set"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("api.example.com")] // the tunnel's name counts only as external
    [InlineData("192.168.1.10:{port}")] // an address of the LAN: cannot be rebound, but is not local
    public async Task The_tunnel_name_and_lan_addresses_are_external(string host)
    {
        host = host.Replace("{port}", Port.ToString());
        var (status, body) = await SendAsync("GET", "/admin/config", host);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        ErrorAssert.IsOpenAIError(JsonNode.Parse(body), "missing_api_key");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/admin/config", host, key: _server.Settings.Config.MasterKey)).Status);
    }

    [Fact]
    public async Task Own_origin_is_one_of_our_names_on_our_port_never_whatever_host_says()
    {
        var ours = _server.BaseAddress.Authority;
        // Host and Origin agree, but the name is the attacker's: refused before any origin question.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync("GET", "/v1/models", $"rebind.example:{Port}", $"http://rebind.example:{Port}")).Status);
        // The right Host with the attacker's Origin: a cross-origin caller, so no local pass.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync("GET", "/v1/models", ours, $"http://rebind.example:{Port}")).Status);
        // Another page on this machine (another port) is not this server's own page either.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync("GET", "/v1/models", ours, $"http://localhost:{Port + 1}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", ours, $"http://localhost:{Port}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", ours, $"http://127.0.0.1:{Port}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/v1/models", "myserver.lan", "https://myserver.lan")).Status);
    }

    [Fact]
    public async Task A_rebinding_page_in_a_real_browser_cannot_read_the_master_key_or_mint_keys()
    {
        var keysBefore = (await _server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys")).Body!["data"]!.AsArray().Count;
        var (exit, output) = await NodeScript.RunAsync("rebind-check.mjs", [_server.BaseAddress.ToString().TrimEnd('/')], TimeSpan.FromSeconds(90));
        NodeScript.AssertPassed(exit, output, "rebind-check.mjs");
        Assert.Contains("4/4 checks passed", output);
        Assert.Equal(keysBefore, (await _server.SendJsonAsync(HttpMethod.Get, "/v1/api-keys")).Body!["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task Allowed_hosts_are_validated_and_apply_at_once()
    {
        var (bad, body) = await _server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"allowedHosts": ["http://x.example/path"]}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("allowedHosts", ErrorAssert.IsOpenAIError(body)["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync("GET", "/health", "proxy.example")).Status);
        var (ok, _) = await _server.SendJsonAsync(HttpMethod.Patch, "/admin/config", """{"allowedHosts": ["myserver.lan", "proxy.example"]}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "/health", "proxy.example")).Status);
    }
}
