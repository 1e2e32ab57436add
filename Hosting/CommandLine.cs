using System.Globalization;

namespace CodexApiServer.Hosting;

/// <summary>What was asked on the command line. Flags override the environment, which overrides the file.</summary>
public sealed record CommandLine(
    string Command,
    string? Host,
    int? Port,
    string? DataDir,
    string? ConfigFile,
    string? Action = null,
    bool System = false)
{
    public static readonly string[] ServiceActions = ["install", "uninstall", "status", "logs"];

    public const string Usage = """
        Usage: codex-api-server [options]
               codex-api-server master-key [options]
               codex-api-server service install|uninstall|status|logs [--system] [options]
               codex-api-server doctor [options]

        Serves the Codex CLI and Claude Code as an OpenAI-compatible HTTP API.

        Options:
          --host H         address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)
          --port N         port to listen on (default 8080; 0 picks a free one)
          --data-dir DIR   folder for config.json and the database
                           (default: the platform's config folder + codex-api-server)
          --config FILE    config file (default: DATA_DIR/config.json)
          --help           show this help
          --version        show the version

        Commands:
          master-key       print the master key (made on first start) and exit
          service ACTION   run as a service that starts at login (Linux: systemd user unit;
                           macOS: LaunchAgent; Windows: logon task) and after a crash:
                           install (again: rewrite and restart), uninstall, status, logs.
                           --system (Linux, as root): a system unit run by its own account
          doctor           check the CLIs, logins, a test turn on each, port, data dir,
                           tunnel and service, each with its fix; exit 0 when all pass

        Environment: CODEX_API_SERVER_HOST, CODEX_API_SERVER_PORT, CODEX_API_SERVER_DATA_DIR
        """;

    /// <summary>Parses argv; throws <see cref="StartupException"/> naming the bad argument.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string command = "serve";
        string? host = null, dataDir = null, config = null, action = null;
        var system = false;
        int? port = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new StartupException($"{arg} needs a value; see --help");
                }
                return args[++i];
            }
            switch (arg)
            {
                case "--help" or "-h":
                    return new CommandLine("help", null, null, null, null);
                case "--version" or "-v":
                    return new CommandLine("version", null, null, null, null);
                case "--host":
                    host = Value();
                    break;
                case "--port":
                    port = ParsePort(Value(), "--port");
                    break;
                case "--data-dir":
                    dataDir = Value();
                    break;
                case "--config":
                    config = Value();
                    break;
                case "master-key" or "doctor" when i == 0:
                    command = arg;
                    break;
                case "service" when i == 0:
                    command = "service";
                    action = i + 1 < args.Count && ServiceActions.Contains(args[i + 1]) ? args[++i]
                        : throw new StartupException($"service needs one of: {string.Join(", ", ServiceActions)}");
                    break;
                case "--system" when command == "service":
                    system = true;
                    break;
                default:
                    throw new StartupException($"unknown argument \"{arg}\"; see --help");
            }
        }
        return new CommandLine(command, host, port, dataDir, config, action, system);
    }

    public static int ParsePort(string text, string source) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? port
            : throw new StartupException($"{source} \"{text}\" is not a port; use a number from 1 to 65535 (0 picks a free one)");
}
