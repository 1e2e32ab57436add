using System.Security;
using System.Text;

namespace CodexApiServer.Service;

/// <summary>macOS: a LaunchAgent (runs as you, at login, with your CLI logins), loaded with launchctl bootstrap.</summary>
public static class LaunchAgent
{
    public const string Label = "local." + ServiceSpec.Name;

    public static string PlistPath(string home) => Path.Combine(home, "Library", "LaunchAgents", Label + ".plist");

    public static string LogPath(string dataDir) => Path.Combine(dataDir, "logs", "server.log");

    public static string Render(ServiceSpec spec)
    {
        static string S(string value) => "<string>" + SecurityElement.Escape(value) + "</string>";
        var text = new StringBuilder();
        text.Append("""
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <plist version="1.0">
            <dict>

            """);
        text.Append("  <key>Label</key>").Append(S(Label)).Append('\n');
        text.Append("  <key>ProgramArguments</key>\n  <array>\n");
        foreach (var word in spec.Command)
        {
            text.Append("    ").Append(S(word)).Append('\n');
        }
        text.Append("  </array>\n");
        text.Append("  <key>EnvironmentVariables</key>\n  <dict>\n    <key>PATH</key>").Append(S(spec.PathVariable)).Append("\n  </dict>\n");
        text.Append("  <key>RunAtLoad</key><true/>\n");
        // Started again when it ends with a failure, not after a clean stop.
        text.Append("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key><false/>\n  </dict>\n");
        text.Append("  <key>ThrottleInterval</key><integer>5</integer>\n");
        text.Append("  <key>ProcessType</key>").Append(S("Background")).Append('\n');
        text.Append("  <key>StandardOutPath</key>").Append(S(LogPath(spec.DataDir))).Append('\n');
        text.Append("  <key>StandardErrorPath</key>").Append(S(LogPath(spec.DataDir))).Append('\n');
        text.Append("</dict>\n</plist>\n");
        return text.ToString();
    }

    public static string Domain(uint uid) => "gui/" + uid.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string[] Bootstrap(uint uid, string plist) => ["launchctl", "bootstrap", Domain(uid), plist];

    public static string[] Bootout(uint uid) => ["launchctl", "bootout", Domain(uid) + "/" + Label];

    public static string[] Print(uint uid) => ["launchctl", "print", Domain(uid) + "/" + Label];

    /// <summary>`launchctl print` says "state = running" for a running job.</summary>
    public static bool IsRunning(string printOutput) =>
        printOutput.Split('\n').Any(l => l.Trim() == "state = running");
}
