namespace CodexApiServer.Hosting;

/// <summary>
/// The OS a path or command is made for. The functions that differ per OS take it as an argument, so
/// their Windows and macOS answers are unit-tested on Linux; <see cref="Current"/> is what runs.
/// </summary>
public enum HostOs
{
    Linux,
    MacOS,
    Windows,
}

public static class HostOsInfo
{
    public static HostOs Current { get; } =
        OperatingSystem.IsWindows() ? HostOs.Windows : OperatingSystem.IsMacOS() ? HostOs.MacOS : HostOs.Linux;

    public static char PathListSeparator(this HostOs os) => os == HostOs.Windows ? ';' : ':';

    public static string Join(this HostOs os, string dir, string name) =>
        os == HostOs.Windows ? dir.TrimEnd('\\', '/') + "\\" + name : dir.TrimEnd('/') + "/" + name;

    /// <summary>How to run this executable again: itself when native, `dotnet exec the.dll` under the JIT.</summary>
    public static IReadOnlyList<string> SelfCommand(string processPath, string baseDirectory) =>
        Path.GetFileNameWithoutExtension(processPath) == "dotnet"
            ? [processPath, "exec", Path.Combine(baseDirectory, "codex-api-server.dll")]
            : [processPath];

    /// <summary>
    /// The data directory when none is given: %APPDATA% on Windows, ~/Library/Application Support on
    /// macOS, $XDG_CONFIG_HOME (or ~/.config) elsewhere; each + codex-api-server.
    /// </summary>
    public static string DefaultDataDir(this HostOs os, Func<string, string?> env, string home)
    {
        static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
        var baseDir = os switch
        {
            HostOs.Windows => NonEmpty(env("APPDATA")) ?? os.Join(os.Join(home, "AppData"), "Roaming"),
            HostOs.MacOS => os.Join(os.Join(NonEmpty(env("HOME")) ?? home, "Library"), "Application Support"),
            _ => NonEmpty(env("XDG_CONFIG_HOME")) ?? os.Join(NonEmpty(env("HOME")) ?? home, ".config"),
        };
        return os.Join(baseDir, "codex-api-server");
    }

    /// <summary>
    /// A command found on PATH as the OS's own lookup finds it, without a shell: on Windows each
    /// PATHEXT extension in each folder (npm's extensionless `codex` there is a sh script for Git Bash,
    /// which Windows cannot start, so a bare name never matches).
    /// </summary>
    public static string? FindOnPath(this HostOs os, string command, string? pathVariable, string? pathExt, Func<string, bool> exists)
    {
        var names = os == HostOs.Windows
            ? (string.IsNullOrEmpty(pathExt) ? ".COM;.EXE;.BAT;.CMD" : pathExt).Split(';', StringSplitOptions.RemoveEmptyEntries)
                .Select(ext => command + ext.ToLowerInvariant()).ToArray()
            : [command];
        foreach (var dir in (pathVariable ?? "").Split(os.PathListSeparator(), StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in names)
            {
                var candidate = os.Join(dir.Trim('"'), name);
                if (exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }
}
