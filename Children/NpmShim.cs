namespace CodexApiServer.Children;

/// <summary>
/// Windows: npm installs a CLI as `name.cmd`, a batch file. Starting a batch file without a shell
/// still runs cmd.exe, which re-reads every argument with its own rules (a system prompt on the
/// command line could then run commands). So a shim is read instead and its target started directly:
/// the native program it calls (claude.exe), or node with the script (codex.js).
/// </summary>
public static class NpmShim
{
    public static bool IsBatch(string file) =>
        file.EndsWith(".cmd", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".bat", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The program and leading arguments of an npm (cmd-shim) batch file, or null when it is not one.
    /// Its target is the last quoted "%dp0%\..." path that is not node.exe; %dp0% is the shim's folder.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Arguments)? Resolve(string shimPath, string shimText, Func<string, bool> exists)
    {
        const string Marker = "\"%dp0%\\";
        var dir = shimPath[..Math.Max(0, shimPath.LastIndexOfAny(['\\', '/']))];
        string? target = null;
        for (var at = shimText.IndexOf(Marker, StringComparison.OrdinalIgnoreCase); at >= 0; at = shimText.IndexOf(Marker, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var end = shimText.IndexOf('"', at + Marker.Length);
            var relative = end < 0 ? null : shimText[(at + Marker.Length)..end];
            if (relative is not null && !relative.Equals("node.exe", StringComparison.OrdinalIgnoreCase))
            {
                target = dir + "\\" + relative;
            }
        }
        if (target is null)
        {
            return null;
        }
        if (target.EndsWith(".exe", StringComparison.OrdinalIgnoreCase))
        {
            return (target, []);
        }
        var localNode = dir + "\\node.exe";
        return (exists(localNode) ? localNode : "node", [target]);
    }
}
