using System.Diagnostics;
using System.Net;
using System.Xml.Linq;
using CodexApiServer.Service;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Ops;

public sealed class ServiceTests
{
    /// <summary>Runs this build's executable to its end (the published one when CODEX_API_SERVER_BIN names it).</summary>
    internal static async Task<(int ExitCode, string Output)> RunSelfAsync(IEnumerable<string> args, IDictionary<string, string?> environment, TimeSpan? timeout = null)
    {
        var bin = Environment.GetEnvironmentVariable("CODEX_API_SERVER_BIN");
        var info = new ProcessStartInfo(string.IsNullOrEmpty(bin) ? "dotnet" : bin) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (string.IsNullOrEmpty(bin))
        {
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "codex-api-server.dll"));
        }
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        foreach (var name in new[] { "CODEX_API_SERVER_HOST", "CODEX_API_SERVER_PORT", "CODEX_API_SERVER_DATA_DIR", "XDG_CONFIG_HOME" })
        {
            info.Environment.Remove(name);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    internal static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Install_writes_a_unit_that_systemd_accepts_and_whose_ExecStart_serves_health_then_uninstall_removes_it()
    {
        var home = TempDir.Create("service-home");
        var runtime = Path.Combine(home, "run");
        Directory.CreateDirectory(runtime, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var port = FreePort();
        var env = new Dictionary<string, string?> { ["HOME"] = home, ["XDG_RUNTIME_DIR"] = runtime };
        var unit = Path.Combine(home, ".config", "systemd", "user", "codex-api-server.service");
        try
        {
            var (exit, output) = await RunSelfAsync(["service", "install", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)], env);
            Assert.Contains("wrote " + unit, output);
            if (exit != 0)
            {
                // This machine's PID 1 is not systemd: the unit is written, and the output says what to run once it is.
                Assert.Contains("systemctl --user daemon-reload failed", output);
                Assert.Contains("systemctl --user enable --now codex-api-server.service", output);
            }
            var (again, againOutput) = await RunSelfAsync(["service", "install"], env);
            Assert.Contains("unchanged: " + unit, againOutput);
            Assert.Equal(exit, again);

            // systemd's own check of the file (unknown keys, bad quoting, a missing executable all fail it).
            var verifyInfo = new ProcessStartInfo("systemd-analyze") { ArgumentList = { "--user", "verify", unit }, RedirectStandardOutput = true, RedirectStandardError = true };
            verifyInfo.Environment["XDG_RUNTIME_DIR"] = runtime;
            using (var verify = Process.Start(verifyInfo)!)
            {
                var verifyOutput = await verify.StandardOutput.ReadToEndAsync() + await verify.StandardError.ReadToEndAsync();
                await verify.WaitForExitAsync();
                Assert.True(verify.ExitCode == 0 && verifyOutput.Length == 0, $"systemd-analyze verify: {verify.ExitCode} {verifyOutput}");
            }

            // What systemd would run: the ExecStart words and the Environment, read back as systemd reads them.
            var lines = File.ReadAllLines(unit);
            var command = SystemdUnit.SplitWords(lines.Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..]);
            var pathLine = SystemdUnit.SplitWords(lines.Single(l => l.StartsWith("Environment=", StringComparison.Ordinal))["Environment=".Length..]).Single();
            Assert.Contains("Restart=on-failure", lines);
            Assert.Equal(["--data-dir", Path.Combine(home, ".config", "codex-api-server")], command.Skip(command.Count - 2));
            var info = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            command.Skip(1).ToList().ForEach(info.ArgumentList.Add);
            info.Environment["PATH"] = pathLine["PATH=".Length..];
            info.Environment["HOME"] = home;
            using (var server = Process.Start(info)!)
            {
                try
                {
                    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                    string? health = null;
                    for (var i = 0; i < 100 && health is null; i++)
                    {
                        try
                        {
                            health = await http.GetStringAsync($"http://127.0.0.1:{port}/health");
                        }
                        catch (HttpRequestException)
                        {
                            await Task.Delay(200);
                        }
                    }
                    Assert.NotNull(health);
                    Assert.Contains("\"status\":\"ok\"", health);
                }
                finally
                {
                    server.Kill(entireProcessTree: true);
                    await server.WaitForExitAsync();
                }
            }

            var (statusExit, status) = await RunSelfAsync(["service", "status"], env);
            Assert.Equal(3, statusExit);
            Assert.Contains($"stopped ({unit}); it would answer at http://127.0.0.1:{port}", status);

            var (uninstallExit, uninstall) = await RunSelfAsync(["service", "uninstall"], env);
            Assert.Equal(0, uninstallExit);
            Assert.Contains("stopped and removed " + unit, uninstall);
            Assert.False(File.Exists(unit));
            Assert.Equal((0, "not installed"), (await RunSelfAsync(["service", "uninstall"], env)) is var (e, o) ? (e, o.Trim()) : default);
            Assert.Equal("not installed", (await RunSelfAsync(["service", "status"], env)).Output.Trim());
        }
        finally
        {
            TempDir.Delete(home);
        }
    }

    [Theory]
    [InlineData("/opt/my apps/codex-api-server")]
    [InlineData("C:\\odd \"quoted\" 100% $HOME\\x")]
    [InlineData("")]
    public void A_systemd_word_reads_back_as_written(string word)
    {
        Assert.Equal([word, "next"], SystemdUnit.SplitWords(SystemdUnit.Quote(word) + " " + SystemdUnit.Quote("next")));
        Assert.DoesNotContain("$H", SystemdUnit.Quote(word).Replace("$$", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_system_unit_runs_as_its_own_account_at_boot()
    {
        var spec = new ServiceSpec(["/usr/local/bin/codex-api-server", "--data-dir", "/var/lib/codex-api-server/data"], "/var/lib/codex-api-server/data", "/usr/local/bin:/usr/bin", "http://127.0.0.1:8080", "codex-api-server");
        var unit = SystemdUnit.Render(spec);
        Assert.Contains("User=codex-api-server\n", unit);
        Assert.Contains("WantedBy=multi-user.target\n", unit);
        Assert.Contains("Restart=on-failure\n", unit);
        Assert.DoesNotContain("default.target", unit);
        Assert.Equal(["systemctl", "enable", "x"], SystemdUnit.Systemctl(true, "enable", "x"));
        Assert.Equal(["systemctl", "--user", "enable", "x"], SystemdUnit.Systemctl(false, "enable", "x"));
        Assert.Equal(["useradd", "--system", "--home-dir", "/var/lib/codex-api-server", "--create-home", "--shell", "/usr/sbin/nologin", "codex-api-server"],
            SystemdUnit.CreateSystemUser("codex-api-server"));
    }

    [Fact]
    public void The_launch_agent_plist_carries_the_argv_path_and_restart_and_launchctl_gets_the_gui_domain()
    {
        var spec = new ServiceSpec(["/Users/a b/bin/codex-api-server", "--data-dir", "/Users/a b/Library/Application Support/codex-api-server"],
            "/Users/a b/Library/Application Support/codex-api-server", "/Users/a b/.npm-global/bin:/usr/bin&co", "http://127.0.0.1:8080");
        var plist = XDocument.Parse(LaunchAgent.Render(spec)).Root!.Element("dict")!.Elements().ToList();
        string Value(string key) => (string)plist[plist.FindIndex(e => e.Name == "key" && e.Value == key) + 1];
        XElement Node(string key) => plist[plist.FindIndex(e => e.Name == "key" && e.Value == key) + 1];
        Assert.Equal(LaunchAgent.Label, Value("Label"));
        Assert.Equal(spec.Command, Node("ProgramArguments").Elements("string").Select(e => e.Value));
        Assert.Equal("/Users/a b/.npm-global/bin:/usr/bin&co", Node("EnvironmentVariables").Elements("string").Single().Value);
        Assert.Equal("false", Node("KeepAlive").Elements().Last().Name.LocalName);
        Assert.Equal("/Users/a b/Library/Application Support/codex-api-server/logs/server.log", Value("StandardOutPath"));
        Assert.Equal("/Users/me/Library/LaunchAgents/local.codex-api-server.plist", LaunchAgent.PlistPath("/Users/me"));
        Assert.Equal(["launchctl", "bootstrap", "gui/501", "/p.plist"], LaunchAgent.Bootstrap(501, "/p.plist"));
        Assert.Equal(["launchctl", "bootout", "gui/501/local.codex-api-server"], LaunchAgent.Bootout(501));
        Assert.True(LaunchAgent.IsRunning("gui/501/local.codex-api-server = {\n\tactive count = 1\n\tstate = running\n"));
        Assert.False(LaunchAgent.IsRunning("\tstate = not running\n"));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("C:\\Program Files\\x", "\"C:\\Program Files\\x\"")]
    [InlineData("a\"b", "\"a\\\"b\"")]
    [InlineData("C:\\dir with space\\", "\"C:\\dir with space\\\\\"")]
    [InlineData("", "\"\"")]
    public void A_windows_argument_is_quoted_as_the_C_runtime_reads_it(string arg, string quoted) =>
        Assert.Equal(quoted, WindowsLogonTask.QuoteArgument(arg));

    [Fact]
    public void The_logon_task_runs_as_the_user_at_logon_without_a_time_limit_and_restarts_on_failure()
    {
        var spec = new ServiceSpec(["C:\\Users\\Me\\bin\\codex-api-server.exe", "--data-dir", "C:\\Users\\Me\\AppData\\Roaming\\codex-api-server"],
            "C:\\Users\\Me\\AppData\\Roaming\\codex-api-server", "C:\\Users\\Me\\AppData\\Roaming\\npm", "http://127.0.0.1:8080");
        var xml = XDocument.Parse(WindowsLogonTask.Render(spec, "PC\\Me&Co"));
        XNamespace t = "http://schemas.microsoft.com/windows/2004/02/mit/task";
        Assert.Equal("PC\\Me&Co", xml.Descendants(t + "LogonTrigger").Single().Element(t + "UserId")!.Value);
        Assert.Equal("InteractiveToken", xml.Descendants(t + "LogonType").Single().Value);
        Assert.Equal("PT0S", xml.Descendants(t + "ExecutionTimeLimit").Single().Value);
        Assert.NotNull(xml.Descendants(t + "RestartOnFailure").SingleOrDefault());
        Assert.Equal("C:\\Users\\Me\\bin\\codex-api-server.exe", xml.Descendants(t + "Command").Single().Value);
        Assert.Equal("--data-dir C:\\Users\\Me\\AppData\\Roaming\\codex-api-server", xml.Descendants(t + "Arguments").Single().Value);
        Assert.Equal(["schtasks", "/Create", "/F", "/TN", "codex-api-server", "/XML", "C:\\t.xml"], WindowsLogonTask.Create("C:\\t.xml"));
        Assert.Equal(["schtasks", "/Delete", "/F", "/TN", "codex-api-server"], WindowsLogonTask.Delete());
        Assert.True(WindowsLogonTask.IsRunning("\"\\codex-api-server\",\"N/A\",\"Running\""));
        Assert.False(WindowsLogonTask.IsRunning("\"\\codex-api-server\",\"N/A\",\"Ready\""));
    }

    [Fact]
    public void The_service_path_puts_the_cli_folders_first_once_and_the_command_runs_this_executable()
    {
        Assert.Equal("/home/u/.npm/bin:/usr/bin:/bin",
            ServiceSpec.ServicePath("/usr/bin:/home/u/.npm/bin:/bin", ["/home/u/.npm/bin/codex", null, "/home/u/.npm/bin/claude"], ':'));
        Assert.Equal(["/usr/share/dotnet/dotnet", "exec", Path.Combine("/app", "codex-api-server.dll")], CodexApiServer.Hosting.HostOsInfo.SelfCommand("/usr/share/dotnet/dotnet", "/app"));
        Assert.Equal(["/usr/local/bin/codex-api-server"], CodexApiServer.Hosting.HostOsInfo.SelfCommand("/usr/local/bin/codex-api-server", "/usr/local/bin"));
        Assert.Equal("http://127.0.0.1:8080", ServiceSpec.UrlFor("0.0.0.0", 8080));
        Assert.Equal("http://[::1]:9", ServiceSpec.UrlFor("::", 9));
        Assert.Equal("http://192.168.1.5:80", ServiceSpec.UrlFor("192.168.1.5", 80));
    }
}
