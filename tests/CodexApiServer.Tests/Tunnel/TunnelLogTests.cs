using CodexApiServer.Tests.Support;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Tests.Tunnel;

public sealed class TunnelLogTests
{
    private static readonly string[] RealLog =
    [
        "2026-11-30T22:00:00Z INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee, are subject to the Cloudflare Online Services Terms of Use (https://www.cloudflare.com/website-terms/), and Cloudflare reserves the right to investigate your use of Tunnels for violations of such terms. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps",
        "2026-11-30T22:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...",
        "2026-11-30T22:00:00Z ERR failed to request quick Tunnel: Post \"https://api.trycloudflare.com/tunnel\": context deadline exceeded",
        "2026-11-30T22:00:01Z INF +--------------------------------------------------------------------------------------------+",
        "2026-11-30T22:00:01Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |",
        "2026-11-30T22:00:01Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                      |",
        "2026-11-30T22:00:01Z INF +--------------------------------------------------------------------------------------------+",
    ];

    [Fact]
    public void Only_the_created_tunnel_address_is_taken_from_the_log()
    {
        var found = RealLog.Select(TunnelLog.QuickTunnelUrl).Where(u => u is not null).ToList();
        Assert.Equal(["https://seasonal-deck-organisms-sf.trycloudflare.com"], found);
    }

    [Theory]
    [InlineData("see https://api.trycloudflare.com")]
    [InlineData("see https://www.trycloudflare.com/")]
    [InlineData("Post \"https://api.trycloudflare.com/tunnel\"")]
    [InlineData("https://some-name.trycloudflare.com/path")]
    [InlineData("https://some-name.trycloudflare.com.evil.example")]
    [InlineData("https://developers.cloudflare.com/cloudflare-one/connections/connect-apps")]
    public void Other_addresses_are_not_the_tunnel(string line) => Assert.Null(TunnelLog.QuickTunnelUrl(line));

    [Fact]
    public void Error_lines_lose_their_timestamp()
    {
        Assert.Equal("failed to request quick Tunnel: boom", TunnelLog.Error("2026-11-30T22:00:00Z ERR failed to request quick Tunnel: boom"));
        Assert.Null(TunnelLog.Error("2026-11-30T22:00:00Z INF Registered tunnel connection connIndex=0"));
        Assert.True(TunnelLog.IsConnectionRegistered("2026-11-30T22:00:02Z INF Registered tunnel connection connIndex=0 connection=x event=0 ip=198.41.200.13 location=fra08 protocol=quic"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:5123", "http://127.0.0.1:5123")]
    [InlineData("http://[::]:5123", "http://127.0.0.1:5123")]
    [InlineData("http://[::1]:5123", "http://[::1]:5123")]
    [InlineData("http://192.168.1.20:8080", "http://192.168.1.20:8080")]
    [InlineData("http://localhost:8080", "http://127.0.0.1:8080")]
    public void The_tunnel_points_at_loopback_when_the_server_listens_everywhere(string address, string expected) =>
        Assert.Equal(expected, TunnelManager.LocalOrigin(address));

    [Fact]
    public void Back_off_doubles_from_the_base_up_to_the_cap()
    {
        var options = new TunnelOptions();
        var delays = Enumerable.Range(1, 9).Select(n => BackOff(options, n).TotalSeconds).ToList();
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], delays);
    }

    private static TimeSpan BackOff(TunnelOptions options, int failures) =>
        TunnelManager.BackOff(options, failures);
}

public sealed class TunnelRequestTests
{
    [Fact]
    public async Task A_request_arriving_through_the_tunnel_without_a_key_gets_401()
    {
        await using var server = await TestServer.StartAsync();
        // What cloudflared adds to every request it forwards; it connects from 127.0.0.1.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("CF-Connecting-IP", "203.0.113.7");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("CF-Ray", "8c1f2a3b4c5d6e7f-AMS");
        var response = await server.Client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        ErrorAssert.IsOpenAIError(System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync()), "missing_api_key");

        // The same request straight from this machine needs no key.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await server.Client.GetAsync("/v1/models")).StatusCode);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("  ", null)]
    [InlineData("api.example.com", "https://api.example.com")]
    [InlineData("https://api.example.com/", "https://api.example.com")]
    [InlineData("http://intranet.example", "http://intranet.example")]
    public void A_custom_url_without_scheme_means_https(string? configured, string? expected) =>
        Assert.Equal(expected, TunnelManager.CustomUrl(configured));
}
