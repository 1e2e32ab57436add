namespace CodexApiServer.Tunnel;

/// <summary>
/// Requests through cloudflared reach the server from 127.0.0.1, so "local" must not be judged by
/// the remote address alone. Cloudflare's edge sets these headers on every request it forwards
/// (a client cannot remove them); a client on this machine talking to the port directly has no reason to send them.
/// </summary>
public static class TunnelRequests
{
    private static readonly string[] EdgeHeaders = ["CF-Connecting-IP", "CF-Ray", "X-Forwarded-For"];

    public static bool IsFromTunnel(HttpRequest request)
    {
        foreach (var header in EdgeHeaders)
        {
            if (request.Headers.ContainsKey(header))
            {
                return true;
            }
        }
        return false;
    }
}
