using System.Text.RegularExpressions;

namespace CodexApiServer.Tunnel;

/// <summary>
/// Reads cloudflared's stderr log. The log names several Cloudflare addresses (api.trycloudflare.com,
/// developers.cloudflare.com, the terms page); only a hyphenated name under trycloudflare.com with
/// nothing after it is the quick tunnel that was created.
/// </summary>
internal static partial class TunnelLog
{
    public const string ConnectionRegistered = "Registered tunnel connection";

    private static readonly HashSet<string> ServiceNames = new(StringComparer.OrdinalIgnoreCase) { "api", "www" };

    public static string? QuickTunnelUrl(string line)
    {
        foreach (Match match in QuickUrl().Matches(line))
        {
            if (!ServiceNames.Contains(match.Groups["name"].Value))
            {
                return "https://" + match.Groups["name"].Value.ToLowerInvariant() + ".trycloudflare.com";
            }
        }
        return null;
    }

    public static bool IsConnectionRegistered(string line) => line.Contains(ConnectionRegistered, StringComparison.Ordinal);

    /// <summary>An error line ("... ERR message" or "... FTL message"), without its timestamp.</summary>
    public static string? Error(string line)
    {
        var match = ErrorLine().Match(line);
        return match.Success ? match.Groups["text"].Value.Trim() : null;
    }

    /// <summary>A line with its leading timestamp and level removed, for messages.</summary>
    public static string WithoutPrefix(string line)
    {
        var match = AnyLine().Match(line);
        return (match.Success ? match.Groups["text"].Value : line).Trim();
    }

    // The name is one or more words joined by hyphens; a path, port or further label after it means another address.
    [GeneratedRegex(@"https://(?<name>[a-z0-9]+(?:-[a-z0-9]+)+)\.trycloudflare\.com(?![\w./:-])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex QuickUrl();

    [GeneratedRegex(@"^\S*\s*(?:ERR|FTL)\s+(?<text>.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorLine();

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\S+\s+[A-Z]{3}\s+(?<text>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex AnyLine();
}
