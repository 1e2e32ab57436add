namespace CodexApiServer.Service;

/// <summary>
/// What the service runs, the same on every OS: the command (this executable and its flags, the data
/// directory among them), the PATH it runs with (so the CLIs found now are found at boot), the URL
/// it answers on, and for a system unit the account it runs as.
/// </summary>
public sealed record ServiceSpec(IReadOnlyList<string> Command, string DataDir, string PathVariable, string Url, string? SystemUser = null)
{
    public const string Name = "codex-api-server";

    /// <summary>
    /// The installing user's PATH with the folders of the CLIs in front: a service manager starts
    /// with a bare PATH (systemd: /usr/local/bin:/usr/bin..., launchd: /usr/bin:/bin:...), where an
    /// npm-installed codex or claude (and node, which runs codex) is not.
    /// </summary>
    public static string ServicePath(string? currentPath, IEnumerable<string?> cliPaths, char separator)
    {
        var dirs = new List<string>();
        foreach (var dir in cliPaths.Where(p => !string.IsNullOrEmpty(p)).Select(p => Path.GetDirectoryName(p!)!)
                     .Concat((currentPath ?? "").Split(separator, StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!dirs.Contains(dir, StringComparer.Ordinal))
            {
                dirs.Add(dir);
            }
        }
        return string.Join(separator, dirs);
    }

    /// <summary>Where a browser on this machine reaches a server listening on host:port.</summary>
    public static string UrlFor(string host, int port)
    {
        var local = host switch
        {
            "0.0.0.0" or "" or "localhost" => "127.0.0.1",
            "::" => "[::1]",
            _ when host.Contains(':', StringComparison.Ordinal) => "[" + host + "]",
            _ => host,
        };
        return $"http://{local}:{port}";
    }
}
