using System.Net;
using CodexApiServer.Hosting;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Security;

/// <summary>
/// The names this server answers to. A DNS-rebinding page reaches 127.0.0.1 under the attacker's own
/// name, so a loopback peer alone proves nothing: the Host it asked for must be one of ours. IP
/// literals cannot be rebound, so they pass, but only loopback ones (and the configured host) count as local.
/// </summary>
public sealed class AllowedHosts(ServerSettings settings, TunnelManager tunnel)
{
    public HostKind Classify(HostString host)
    {
        if (!host.HasValue)
        {
            // HTTP/1.0 without Host: no browser sends that.
            return HostKind.Local;
        }
        return Classify(Normalize(host.Host));
    }

    /// <summary>A page of this server itself: its origin is one of our local names on the port we listen on, or an allowed name.</summary>
    public bool IsOwnOrigin(string origin, int localPort)
    {
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            return false;
        }
        var name = Normalize(uri.Host);
        if (IsListed(name) || IsTunnelName(name))
        {
            return true;
        }
        return Classify(name) == HostKind.Local && uri.Port == localPort;
    }

    private HostKind Classify(string name)
    {
        if (name == "localhost" || IsLoopbackAddress(name) || IsConfiguredHost(name) || IsListed(name))
        {
            return HostKind.Local;
        }
        if (IPAddress.TryParse(name, out _) || IsTunnelName(name))
        {
            return HostKind.External;
        }
        return HostKind.Refused;
    }

    private bool IsConfiguredHost(string name) =>
        string.Equals(name, Normalize(settings.Host), StringComparison.OrdinalIgnoreCase)
        && settings.Host is not ("0.0.0.0" or "::" or "*" or "+");

    private bool IsListed(string name) =>
        settings.Config.AllowedHosts.Any(h => string.Equals(Normalize(h), name, StringComparison.OrdinalIgnoreCase));

    private bool IsTunnelName(string name) =>
        HostOf(tunnel.PublicUrl) == name || HostOf(TunnelManager.CustomUrl(settings.Config.TunnelCustomUrl)) == name;

    private static bool IsLoopbackAddress(string name) => IPAddress.TryParse(name, out var ip) && IPAddress.IsLoopback(ip);

    private static string? HostOf(string? url) =>
        url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) ? Normalize(uri.Host) : null;

    // "[::1]" → "::1", "LocalHost." → "localhost".
    private static string Normalize(string host) => host.Trim('[', ']').TrimEnd('.').ToLowerInvariant();
}
