using System.Security.Cryptography;
using System.Text.Json;

namespace CodexApiServer.Hosting;

/// <summary>The configuration in effect: the file, then the environment, then the flags.</summary>
public sealed class ServerSettings
{
    private readonly Lock _saveLock = new();

    public required string DataDir { get; init; }
    public required string ConfigPath { get; init; }
    private volatile ServerConfig _config = null!;

    /// <summary>The config in effect; replaced whole by <see cref="Apply"/>, so readers see one consistent version.</summary>
    public required ServerConfig Config { get => _config; init => _config = value; }

    /// <summary>Host and port after environment and flags; the file keeps its own values.</summary>
    public required string Host { get; init; }
    public required int Port { get; init; }

    public string DatabasePath => Path.Combine(DataDir, "codex-api-server.db");

    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>This start made the config file: the console opens on the setup page.</summary>
    public bool FirstRun { get; init; }

    public static ServerSettings Load(CommandLine cli, Func<string, string?> env)
    {
        var dataDir = cli.DataDir ?? NonEmpty(env("CODEX_API_SERVER_DATA_DIR")) ?? DefaultDataDir(env);
        dataDir = Path.GetFullPath(dataDir);
        EnsureWritableDirectory(dataDir);
        var configPath = Path.GetFullPath(cli.ConfigFile ?? Path.Combine(dataDir, "config.json"));

        var config = ReadConfig(configPath);
        var created = config is null;
        config ??= new ServerConfig();
        var needsSave = created;
        if (string.IsNullOrEmpty(config.MasterKey))
        {
            config.MasterKey = NewSecret("msk_");
            needsSave = true;
        }

        var host = cli.Host ?? NonEmpty(env("CODEX_API_SERVER_HOST")) ?? config.Host;
        var port = cli.Port
            ?? (NonEmpty(env("CODEX_API_SERVER_PORT")) is { } p ? CommandLine.ParsePort(p, "CODEX_API_SERVER_PORT") : config.Port);

        var problems = config.Validate();
        if (problems.Count > 0)
        {
            throw new StartupException($"invalid config in {configPath}: {string.Join("; ", problems)}");
        }

        var warnings = new List<string>();
        if (config.UnknownKeys is { Count: > 0 } unknown)
        {
            warnings.Add($"config {configPath} has keys this version does not know, kept as they are: {string.Join(", ", unknown.Keys)}");
        }

        var settings = new ServerSettings
        {
            DataDir = dataDir,
            ConfigPath = configPath,
            Config = config,
            Host = host,
            Port = port,
            Warnings = warnings,
            FirstRun = created,
        };
        if (needsSave)
        {
            settings.Save();
        }
        return settings;
    }

    /// <summary>Raised after <see cref="Apply"/> with the config before and after, for parts that act on a change at once.</summary>
    public event Action<ServerConfig, ServerConfig>? Changed;

    /// <summary>Makes a validated config the one in effect and writes it to the file.</summary>
    public void Apply(ServerConfig next)
    {
        ServerConfig before;
        lock (_saveLock)
        {
            before = _config;
            _config = next;
            Save();
        }
        Changed?.Invoke(before, next);
    }

    /// <summary>Writes config.json atomically, readable by the owner only.</summary>
    public void Save()
    {
        lock (_saveLock)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(Config, ConfigJsonContext.Default.ServerConfig);
            var temp = ConfigPath + ".tmp";
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using (var stream = new FileStream(temp, options))
                {
                    stream.Write(json);
                    stream.Flush(flushToDisk: true);
                }
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
                File.Move(temp, ConfigPath, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StartupException($"cannot write {ConfigPath} ({e.Message}); fix its permissions or choose another file with --config FILE");
            }
        }
    }

    /// <summary>A secret with a prefix and 43 base64url characters (256 bits) from the OS CSPRNG.</summary>
    public static string NewSecret(string prefix) =>
        prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static ServerConfig? ReadConfig(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"cannot read {path} ({e.Message}); fix its permissions or choose another file with --config FILE");
        }
        try
        {
            return JsonSerializer.Deserialize(bytes, ConfigJsonContext.Default.ServerConfig)
                ?? throw new StartupException($"config {path} is null; put a JSON object in it or delete it to start from defaults");
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } p ? $" at {p[2..]}" : e.LineNumber is { } l ? $" at line {l + 1}" : "";
            throw new StartupException($"config {path} is not valid{where}: a value has the wrong type or the JSON is malformed; fix it or delete the file to start from defaults");
        }
    }

    private static void EnsureWritableDirectory(string dir)
    {
        try
        {
            // Our own folder is made owner-only; one that exists is the user's choice (it may be /tmp) and keeps its mode.
            if (!Directory.Exists(dir))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(dir);
                }
                else
                {
                    Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }
            var probe = Path.Combine(dir, $".write-test-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StartupException($"data directory {dir} is not writable ({e.Message}); fix its permissions or choose another with --data-dir DIR");
        }
    }

    private static string DefaultDataDir(Func<string, string?> env) =>
        HostOsInfo.Current.DefaultDataDir(env, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
