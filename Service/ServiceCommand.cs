using System.Runtime.InteropServices;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;

namespace CodexApiServer.Service;

/// <summary>
/// `codex-api-server service install | uninstall | status | logs [--system]`: the OS's own service
/// manager starts the server at boot or login and again after a crash. Each action can be repeated:
/// install rewrites and restarts, uninstall of nothing says so and succeeds.
/// </summary>
public static partial class ServiceCommand
{
    public static int Run(CommandLine cli, ServerSettings settings)
    {
        var spec = Spec(cli, settings);
        if (OperatingSystem.IsLinux())
        {
            return new LinuxService(spec, cli.System).Run(cli.Action!);
        }
        if (cli.System)
        {
            Console.Error.WriteLine("error: --system is for Linux (systemd); on macOS and Windows the service runs as you, at login");
            return 2;
        }
        if (OperatingSystem.IsMacOS())
        {
            return MacService(spec, cli.Action!);
        }
        if (OperatingSystem.IsWindows())
        {
            return WindowsService(spec, cli.Action!);
        }
        Console.Error.WriteLine("error: no service manager known on this OS; run codex-api-server from your own init system");
        return 2;
    }

    /// <summary>Whether the service is installed and running, and where its definition is (for doctor); null on an OS without one.</summary>
    public static (bool Installed, bool Running, string Where)? State(ServerSettings settings)
    {
        var cli = CommandLine.Parse(["service", "status"]);
        var spec = Spec(cli, settings);
        if (OperatingSystem.IsLinux())
        {
            return new LinuxService(spec, system: false).Query() is { Installed: true } user ? user : new LinuxService(spec, system: true).Query();
        }
        if (OperatingSystem.IsMacOS())
        {
            var plist = LaunchAgent.PlistPath(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
            var print = SystemCommand.Run(LaunchAgent.Print(GetUid()));
            return (File.Exists(plist), print.ExitCode == 0 && LaunchAgent.IsRunning(print.Output), plist);
        }
        if (OperatingSystem.IsWindows())
        {
            var query = SystemCommand.Run(WindowsLogonTask.Query());
            return (query.ExitCode == 0, WindowsLogonTask.IsRunning(query.Output), $"task \"{WindowsLogonTask.TaskName}\"");
        }
        return null;
    }

    private static ServiceSpec Spec(CommandLine cli, ServerSettings settings)
    {
        var dataDir = cli.System ? Path.Combine(SystemdUnit.SystemHome, "data") : settings.DataDir;
        if (cli is { Action: "install", System: false } && (cli.Host is not null || cli.Port is not null))
        {
            // Saved in config.json rather than written into the unit: the service and `service status` read the same file.
            var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(settings.Config, ConfigJsonContext.Default.ServerConfig);
            var next = System.Text.Json.JsonSerializer.Deserialize(json, ConfigJsonContext.Default.ServerConfig)!;
            next.Host = cli.Host ?? next.Host;
            next.Port = cli.Port ?? next.Port;
            settings.Apply(next);
            Console.WriteLine($"saved host {next.Host} and port {next.Port} in {settings.ConfigPath}");
        }
        var command = new List<string>(HostOsInfo.SelfCommand(Environment.ProcessPath!, AppContext.BaseDirectory)) { "--data-dir", dataDir };
        if (cli.System && cli.Host is not null)
        {
            command.AddRange(["--host", cli.Host]);
        }
        if (cli.System && cli.Port is { } port)
        {
            command.AddRange(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        var path = ServiceSpec.ServicePath(Environment.GetEnvironmentVariable("PATH"),
            [CliProbe.Locate(settings.Config.CodexPath, "codex"), CliProbe.Locate(settings.Config.ClaudePath, "claude")], Path.PathSeparator);
        return new ServiceSpec(command, dataDir, path, ServiceSpec.UrlFor(cli.Host ?? settings.Host, cli.Port ?? settings.Port), cli.System ? ServiceSpec.Name : null);
    }

    private static int Report(string what, (int ExitCode, string Output) result)
    {
        if (result.ExitCode != 0)
        {
            Console.Error.WriteLine($"error: {what} failed: {result.Output}");
        }
        return result.ExitCode == 0 ? 0 : 1;
    }

    private static int MacService(ServiceSpec spec, string action)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var plist = LaunchAgent.PlistPath(home);
        var uid = GetUid();
        var installed = File.Exists(plist);
        switch (action)
        {
            case "install":
                SystemCommand.Run(LaunchAgent.Bootout(uid)); // a loaded one is replaced, not doubled
                Directory.CreateDirectory(Path.GetDirectoryName(plist)!);
                Directory.CreateDirectory(Path.GetDirectoryName(LaunchAgent.LogPath(spec.DataDir))!);
                File.WriteAllText(plist, LaunchAgent.Render(spec));
                Console.WriteLine($"wrote {plist}");
                if (Report("launchctl bootstrap", SystemCommand.Run(LaunchAgent.Bootstrap(uid, plist))) != 0)
                {
                    return 1;
                }
                Console.WriteLine($"started; it starts again at each login and after a crash. {spec.Url}");
                return 0;
            case "uninstall":
                if (!installed)
                {
                    Console.WriteLine("not installed");
                    return 0;
                }
                SystemCommand.Run(LaunchAgent.Bootout(uid));
                File.Delete(plist);
                Console.WriteLine($"stopped and removed {plist}");
                return 0;
            case "status":
                var print = SystemCommand.Run(LaunchAgent.Print(uid));
                return Status(installed, print.ExitCode == 0 && LaunchAgent.IsRunning(print.Output), plist, spec.Url);
            default:
                return Tail(LaunchAgent.LogPath(spec.DataDir));
        }
    }

    private static int WindowsService(ServiceSpec spec, string action)
    {
        var query = SystemCommand.Run(WindowsLogonTask.Query());
        var installed = query.ExitCode == 0;
        switch (action)
        {
            case "install":
                var xml = Path.Combine(spec.DataDir, "logon-task.xml");
                var user = Environment.UserDomainName + "\\" + Environment.UserName;
                File.WriteAllText(xml, WindowsLogonTask.Render(spec, user), System.Text.Encoding.Unicode);
                if (installed)
                {
                    SystemCommand.Run(WindowsLogonTask.End());
                }
                if (Report("schtasks /Create", SystemCommand.Run(WindowsLogonTask.Create(xml))) != 0
                    || Report("schtasks /Run", SystemCommand.Run(WindowsLogonTask.Run())) != 0)
                {
                    return 1;
                }
                Console.WriteLine($"task \"{WindowsLogonTask.TaskName}\" created and started; it starts at each logon and again after a crash. {spec.Url}");
                return 0;
            case "uninstall":
                if (!installed)
                {
                    Console.WriteLine("not installed");
                    return 0;
                }
                SystemCommand.Run(WindowsLogonTask.End());
                return Report("schtasks /Delete", SystemCommand.Run(WindowsLogonTask.Delete()));
            case "status":
                return Status(installed, installed && WindowsLogonTask.IsRunning(query.Output), $"task \"{WindowsLogonTask.TaskName}\"", spec.Url);
            default:
                // A scheduled task keeps no output: the running server's recent lines instead.
                return ServerLogs(spec.Url);
        }
    }

    internal static int Status(bool installed, bool running, string where, string url)
    {
        Console.WriteLine(!installed ? "not installed"
            : running ? $"running ({where}) at {url}"
            : $"stopped ({where}); it would answer at {url}");
        return installed && running ? 0 : 3;
    }

    private static int Tail(string file)
    {
        if (!File.Exists(file))
        {
            Console.WriteLine($"no log yet ({file})");
            return 0;
        }
        foreach (var line in File.ReadLines(file).TakeLast(200))
        {
            Console.WriteLine(line);
        }
        return 0;
    }

    private static int ServerLogs(string url)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            using var json = System.Text.Json.JsonDocument.Parse(http.GetStringAsync(url + "/admin/logs?limit=200").GetAwaiter().GetResult());
            foreach (var line in json.RootElement.GetProperty("data").EnumerateArray())
            {
                Console.WriteLine($"{line.GetProperty("time")} {line.GetProperty("level")} {line.GetProperty("message")}");
            }
            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: the server at {url} did not answer ({e.Message}); is it running? (service status)");
            return 1;
        }
    }

    [LibraryImport("libc", EntryPoint = "getuid")]
    private static partial uint GetUid();
}
