using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Service;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Hosting;

/// <summary>
/// `codex-api-server doctor`: the checks a person runs when something is wrong, each passed or
/// failed with the fix. The CLIs are checked through the server itself (an in-process server on a
/// free loopback port, with the same config), so a test turn takes the path a request takes.
/// Exit code 0 only when every check passed.
/// </summary>
public static class Doctor
{
    /// <summary>The CLI versions the tests run against (tests/node/package.json); older ones may lack what the server uses.</summary>
    public static readonly IReadOnlyDictionary<string, Version> TestedVersions = new Dictionary<string, Version>
    {
        ["codex"] = new(0, 169, 0),
        ["claude"] = new(2, 1, 331),
    };

    public sealed record Check(string Name, bool Passed, string Detail, string? Fix = null);

    public static async Task<int> RunAsync(ServerSettings settings, TextWriter output)
    {
        output.WriteLine($"codex-api-server doctor {AppInfo.Version} (data: {settings.DataDir})");
        var checks = new List<Check>();
        void Report(Check check)
        {
            checks.Add(check);
            output.WriteLine($"  {(check.Passed ? "ok  " : "FAIL")}  {check.Name}: {check.Detail}");
            if (!check.Passed && check.Fix is not null)
            {
                output.WriteLine($"        fix: {check.Fix}");
            }
        }

        Report(DataDirectory(settings.DataDir));
        Report(await PortAsync(settings));

        var local = new ServerSettings
        {
            DataDir = settings.DataDir,
            ConfigPath = settings.ConfigPath,
            Config = settings.Config,
            Host = "127.0.0.1",
            Port = 0,
        };
        // The server's log stays in its buffer (the failures' details are in the checks), not on this terminal.
        await using (var app = ServerApp.Build(local, configureServices: services =>
        {
            foreach (var console in services.Where(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider)).ToList())
            {
                services.Remove(console);
            }
        }))
        {
            try
            {
                await app.StartListeningAsync(local);
            }
            catch (StartupException e)
            {
                Report(new Check("server", false, e.Message));
                return Summary(checks, output);
            }
            using var http = new HttpClient { BaseAddress = new Uri(app.Address()), Timeout = TimeSpan.FromSeconds(120) };
            var probe = app.Services.GetRequiredService<CliProbe>();
            var catalog = app.Services.GetRequiredService<ModelCatalog>();
            var codexModel = catalog.Find(settings.Config.DefaultModel)?.Provider == ProviderKind.Codex ? settings.Config.DefaultModel : "gpt-5.2-codex";
            foreach (var (name, model) in new[] { ("codex", codexModel), ("claude", "haiku") })
            {
                var status = await ProbedAsync(() => name == "codex" ? probe.Codex : probe.Claude);
                foreach (var check in await CliChecksAsync(name, model, status, http, () => name == "codex" ? probe.Codex : probe.Claude))
                {
                    Report(check);
                }
            }
            await app.StopAsync();
        }

        Report(TunnelBinary(settings));
        Report(ServiceState(settings));
        return Summary(checks, output);
    }

    private static int Summary(List<Check> checks, TextWriter output)
    {
        var failed = checks.Count(c => !c.Passed);
        output.WriteLine(failed == 0
            ? $"doctor: all {checks.Count} checks passed"
            : $"doctor: {failed} of {checks.Count} checks failed");
        return failed == 0 ? 0 : 1;
    }

    private static Check DataDirectory(string dir)
    {
        var probe = Path.Combine(dir, $".doctor-{Environment.ProcessId}");
        try
        {
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
            return new Check("data directory", true, $"{dir} is writable");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Check("data directory", false, $"{dir} is not writable ({e.Message})", "fix its owner or mode, or choose another with --data-dir DIR");
        }
    }

    /// <summary>Free, or held by a codex-api-server (the service, most likely): both are fine.</summary>
    private static async Task<Check> PortAsync(ServerSettings settings)
    {
        var where = $"{settings.Host}:{settings.Port}";
        try
        {
            using var listener = new TcpListener(ServerConfig.ListenAddress(settings.Host) ?? IPAddress.Loopback, settings.Port);
            listener.Start();
            return new Check("port", true, $"{where} is free");
        }
        catch (SocketException)
        {
            var url = ServiceSpec.UrlFor(settings.Host, settings.Port);
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
                var health = JsonNode.Parse(await http.GetStringAsync(url + "/health"));
                if (health?["version"] is not null && health["status"] is not null)
                {
                    return new Check("port", true, $"{where} is in use by a running codex-api-server {(string?)health["version"]} ({url})");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
            }
            return new Check("port", false, $"{where} is in use by another program", "stop that program, or choose another port with --port N (or \"port\" in config.json)");
        }
    }

    /// <summary>The probe's answer once it has one (it runs in the background from the server's start).</summary>
    private static async Task<CliStatus> ProbedAsync(Func<CliStatus> status)
    {
        for (var i = 0; i < 300 && status() is { Found: true, Version: null, Error: null }; i++)
        {
            await Task.Delay(100);
        }
        return status();
    }

    private static async Task<List<Check>> CliChecksAsync(string name, string model, CliStatus status, HttpClient http, Func<CliStatus> current)
    {
        if (!status.Found)
        {
            return [new Check($"{name} found", false, status.Error ?? "not found", $"{CliProbe.InstallHint(name)} (or set {name}Path in config.json)")];
        }
        var checks = new List<Check> { new($"{name} found", true, status.Path!), VersionCheck(name, status.Version) };

        // The turn goes first: codex reports its login (an API-key provider included) only once its app-server runs.
        var turn = await TestTurnAsync(name, model, http);
        var after = current();
        var loggedIn = after.LoggedIn == true || turn.Passed;
        checks.Add(loggedIn
            ? new Check($"{name} logged in", true, after.Login ?? (after.LoggedIn == true ? "yes" : "answered a turn"))
            : new Check($"{name} logged in", false, after.Error ?? "not logged in", "run on this machine, as the user the server runs as: " + CliProbe.LoginHint(name)));
        checks.Add(turn);
        return checks;
    }

    public static Check VersionCheck(string name, string? versionText)
    {
        var tested = TestedVersions[name];
        if (ParseVersion(versionText) is not { } version)
        {
            return new Check($"{name} version", false, $"could not read a version from \"{versionText}\"", $"reinstall it: {CliProbe.InstallHint(name)}");
        }
        return version >= tested
            ? new Check($"{name} version", true, $"{version}" + (version > tested ? $" (tested with {tested})" : ""))
            : new Check($"{name} version", false, $"{version} is older than {tested}, the version this server is tested with", $"update it: {CliProbe.InstallHint(name)}@latest");
    }

    /// <summary>The first x.y.z in a version line ("codex-cli 0.169.0", "2.1.331 (Claude Code)").</summary>
    public static Version? ParseVersion(string? text)
    {
        foreach (var word in (text ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var core = word.TrimStart('v').Split('-', '+')[0];
            if (core.Count(c => c == '.') == 2 && Version.TryParse(core, out var version))
            {
                return version;
            }
        }
        return null;
    }

    private static async Task<Check> TestTurnAsync(string name, string model, HttpClient http)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Reply with one word: ok" }),
        }.ToJsonString();
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            if (response.IsSuccessStatusCode)
            {
                var text = ((string?)json?["choices"]?[0]?["message"]?["content"] ?? "").ReplaceLineEndings(" ");
                return new Check($"{name} test turn", true, $"{model} answered \"{(text.Length > 60 ? text[..60] + "…" : text)}\" in {clock.Elapsed.TotalSeconds:0.0} s");
            }
            var message = (string?)json?["error"]?["message"] ?? response.ReasonPhrase ?? "";
            return new Check($"{name} test turn", false, $"{model}: {(int)response.StatusCode} {message}",
                response.StatusCode == HttpStatusCode.ServiceUnavailable ? "see the login check above" : "run the server and see its log (codex-api-server service logs, or /admin/logs)");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return new Check($"{name} test turn", false, $"{model}: no answer in {clock.Elapsed.TotalSeconds:0} s ({e.Message})", "see the server's log for the CLI's own error");
        }
    }

    private static Check TunnelBinary(ServerSettings settings)
    {
        var status = Cloudflared.Status(settings);
        var wanted = settings.Config.TunnelAutoStart || !string.IsNullOrEmpty(settings.Config.TunnelToken);
        return status.Found
            ? new Check("tunnel binary", true, status.Path!)
            : new Check("tunnel binary", !wanted, wanted ? "cloudflared not found, and the tunnel is configured" : "cloudflared not found (needed only for the tunnel)",
                status.InstallHint + " (or POST /admin/tunnel/install)");
    }

    private static Check ServiceState(ServerSettings settings)
    {
        var state = ServiceCommand.State(settings);
        return state switch
        {
            null => new Check("service", true, "no service manager known on this OS"),
            { Installed: false } => new Check("service", true, "not installed (optional: codex-api-server service install)"),
            { Running: true } s => new Check("service", true, $"running ({s.Where})"),
            { } s => new Check("service", false, $"installed but not running ({s.Where})", "codex-api-server service logs, then codex-api-server service install (restarts it)"),
        };
    }
}
