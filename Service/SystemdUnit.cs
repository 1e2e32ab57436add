using System.Text;

namespace CodexApiServer.Service;

/// <summary>
/// Linux: a systemd unit. By default a user unit (~/.config/systemd/user), which runs as you with your
/// CLI logins; --system a system unit running as a dedicated account whose home holds its own logins.
/// </summary>
public static class SystemdUnit
{
    public const string FileName = ServiceSpec.Name + ".service";
    public const string SystemUnitDirectory = "/etc/systemd/system";
    public const string SystemHome = "/var/lib/" + ServiceSpec.Name;

    public static string UserUnitDirectory(Func<string, string?> env, string home) =>
        Path.Combine(string.IsNullOrEmpty(env("XDG_CONFIG_HOME")) ? Path.Combine(home, ".config") : env("XDG_CONFIG_HOME")!, "systemd", "user");

    public static string Render(ServiceSpec spec)
    {
        var system = spec.SystemUser is not null;
        var text = new StringBuilder();
        text.Append("# Written by `codex-api-server service install`; `codex-api-server service uninstall` removes it.\n");
        text.Append("[Unit]\n");
        text.Append("Description=Codex API Server (OpenAI-compatible API over the codex and claude CLIs)\n");
        text.Append("Documentation=").Append(spec.Url).Append("/docs\n");
        text.Append("After=network-online.target\nWants=network-online.target\n\n");
        text.Append("[Service]\nType=simple\n");
        text.Append("ExecStart=").AppendJoin(' ', spec.Command.Select(Quote)).Append('\n');
        text.Append("Environment=").Append(Quote("PATH=" + spec.PathVariable)).Append('\n');
        if (system)
        {
            text.Append("User=").Append(spec.SystemUser).Append('\n');
            text.Append("Group=").Append(spec.SystemUser).Append('\n');
            text.Append("WorkingDirectory=").Append(SystemHome).Append('\n');
            text.Append("NoNewPrivileges=yes\n");
        }
        // The server ends its own CLI children on SIGTERM (within ~12 s); what is left after that is killed.
        text.Append("KillMode=mixed\nTimeoutStopSec=20\n");
        text.Append("Restart=on-failure\nRestartSec=5\n\n");
        text.Append("[Install]\nWantedBy=").Append(system ? "multi-user.target" : "default.target").Append('\n');
        return text.ToString();
    }

    /// <summary>One word of ExecStart= or Environment=, in double quotes: systemd's own escapes, and % and $ doubled so nothing is expanded.</summary>
    public static string Quote(string word) =>
        "\"" + word.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("%", "%%", StringComparison.Ordinal).Replace("$", "$$", StringComparison.Ordinal) + "\"";

    /// <summary>The words of a quoted ExecStart= line, as systemd reads them (for tests and status).</summary>
    public static List<string> SplitWords(string line)
    {
        var words = new List<string>();
        var i = 0;
        while (i < line.Length)
        {
            if (line[i] == ' ')
            {
                i++;
                continue;
            }
            var word = new StringBuilder();
            var quoted = line[i] == '"';
            if (quoted)
            {
                i++;
            }
            for (; i < line.Length && (quoted ? line[i] != '"' : line[i] != ' '); i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                {
                    word.Append(line[++i]);
                }
                else if (line[i] is '%' or '$' && i + 1 < line.Length && line[i + 1] == line[i])
                {
                    word.Append(line[i++]);
                }
                else
                {
                    word.Append(line[i]);
                }
            }
            i++;
            words.Add(word.ToString());
        }
        return words;
    }

    /// <summary>systemctl for the user's manager or the system's.</summary>
    public static string[] Systemctl(bool system, params string[] args) => system ? ["systemctl", .. args] : ["systemctl", "--user", .. args];

    public static string[] Journal(bool system) => system
        ? ["journalctl", "--unit", FileName, "--lines", "200", "--no-pager"]
        : ["journalctl", "--user-unit", FileName, "--lines", "200", "--no-pager"];

    public static string[] CreateSystemUser(string user) =>
        ["useradd", "--system", "--home-dir", SystemHome, "--create-home", "--shell", "/usr/sbin/nologin", user];
}
