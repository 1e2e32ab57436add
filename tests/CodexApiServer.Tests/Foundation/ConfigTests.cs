using System.Text.Json.Nodes;
using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Foundation;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = TempDir.Create("config");

    public void Dispose() => TempDir.Delete(_dir);

    private ServerSettings Load(string[] args, Dictionary<string, string?>? env = null) =>
        ServerSettings.Load(CommandLine.Parse(["--data-dir", _dir, .. args]), n => env is not null && env.TryGetValue(n, out var v) ? v : null);

    [Fact]
    public void First_start_writes_defaults_and_a_master_key_readable_only_by_the_owner()
    {
        var settings = Load([]);

        Assert.Equal(8080, settings.Port);
        Assert.Equal("127.0.0.1", settings.Host);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")))!;
        Assert.Equal(8080, file["port"]!.GetValue<int>());
        Assert.Equal("gpt-5.2-codex", file["defaultModel"]!.GetValue<string>());
        Assert.True(file["allowLocalWithoutAuth"]!.GetValue<bool>());
        Assert.False(file["tunnelAutoStart"]!.GetValue<bool>());
        var key = file["masterKey"]!.GetValue<string>();
        Assert.StartsWith("msk_", key);
        Assert.True(key.Length >= 4 + 32);
        Assert.Matches("^msk_[A-Za-z0-9_-]+$", key);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "config.json")));
        // The key survives restarts and is not regenerated.
        Assert.Equal(key, Load([]).Config.MasterKey);
    }

    [Fact]
    public void Master_keys_differ_between_installs()
    {
        var other = TempDir.Create("config2");
        try
        {
            var a = Load([]).Config.MasterKey;
            var b = ServerSettings.Load(CommandLine.Parse(["--data-dir", other]), _ => null).Config.MasterKey;
            Assert.NotEqual(a, b);
        }
        finally
        {
            TempDir.Delete(other);
        }
    }

    [Fact]
    public void Environment_overrides_the_file_and_flags_override_both()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"port": 9000, "host": "127.0.0.1"}""");
        var env = new Dictionary<string, string?> { ["CODEX_API_SERVER_PORT"] = "9100", ["CODEX_API_SERVER_HOST"] = "0.0.0.0" };

        Assert.Equal(9000, Load([]).Port);
        var fromEnv = Load([], env);
        Assert.Equal(9100, fromEnv.Port);
        Assert.Equal("0.0.0.0", fromEnv.Host);
        var fromFlags = Load(["--port", "9200", "--host", "::1"], env);
        Assert.Equal(9200, fromFlags.Port);
        Assert.Equal("::1", fromFlags.Host);
    }

    [Fact]
    public void Data_dir_comes_from_the_environment_when_no_flag_is_given()
    {
        var settings = ServerSettings.Load(CommandLine.Parse([]), n => n == "CODEX_API_SERVER_DATA_DIR" ? _dir : null);
        Assert.Equal(_dir, settings.DataDir);
        Assert.True(File.Exists(Path.Combine(_dir, "config.json")));
    }

    [Fact]
    public void Default_data_dir_is_the_XDG_config_folder_on_Linux()
    {
        var settings = ServerSettings.Load(CommandLine.Parse([]), n => n switch
        {
            "XDG_CONFIG_HOME" => _dir,
            "HOME" => "/nonexistent-home",
            _ => null,
        });
        Assert.Equal(Path.Combine(_dir, "codex-api-server"), settings.DataDir);

        var home = ServerSettings.Load(CommandLine.Parse([]), n => n == "HOME" ? _dir : null);
        Assert.Equal(Path.Combine(_dir, ".config", "codex-api-server"), home.DataDir);
    }

    [Fact]
    public void Unknown_keys_are_kept_on_save_and_warned_about()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"port": 8081, "minimizeToTray": true, "future": {"a": [1, 2]}}""");

        var settings = Load([]);
        settings.Save();

        var warning = Assert.Single(settings.Warnings);
        Assert.Contains("minimizeToTray", warning);
        Assert.Contains("future", warning);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "config.json")))!;
        Assert.True(file["minimizeToTray"]!.GetValue<bool>());
        Assert.Equal(2, file["future"]!["a"]![1]!.GetValue<int>());
        Assert.Equal(8081, file["port"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"port": 70000}""", "port 70000")]
    [InlineData("""{"port": "eighty"}""", "port")]
    [InlineData("""{"defaultModel": "gpt 5; rm -rf /"}""", "defaultModel")]
    [InlineData("""{"mode": "yolo"}""", "mode")]
    [InlineData("""{"corsOrigins": ["not a url"]}""", "corsOrigins")]
    [InlineData("""{"maxConcurrentTurns": 0}""", "maxConcurrentTurns")]
    [InlineData("""{"memoryBudgetMb": 10}""", "memoryBudgetMb must be between 64")]
    [InlineData("""{"masterKey": "secret"}""", "masterKey")]
    [InlineData("""{"port": 8080,""", "not valid")]
    [InlineData("""{"host": "my.server.example"}""", "host")]
    [InlineData("""{"allowedHosts": ["https://x.example:8080/"]}""", "allowedHosts")]
    public void Invalid_values_fail_with_a_sentence_naming_the_key(string json, string expected)
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), json);
        var e = Assert.Throws<StartupException>(() => Load([]));
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.Combine(_dir, "config.json"), e.Message);
    }

    [Fact]
    public void A_data_dir_we_create_is_owner_only_one_that_exists_keeps_its_mode_and_the_database_is_owner_only()
    {
        var made = Path.Combine(_dir, "new", "data");
        ServerSettings.Load(CommandLine.Parse(["--data-dir", made]), _ => null);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(made));

        // Like /tmp: the user pointed us at a folder that is theirs to keep as it is.
        var shared = Path.Combine(_dir, "shared");
        Directory.CreateDirectory(shared);
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.StickyBit;
        File.SetUnixFileMode(shared, open);
        var settings = ServerSettings.Load(CommandLine.Parse(["--data-dir", shared]), _ => null);
        Assert.Equal(open, File.GetUnixFileMode(shared));

        var database = new CodexApiServer.Storage.Database(settings);
        database.Migrate();
        using (var connection = database.Open())
        {
            using var write = connection.CreateCommand();
            write.CommandText = "INSERT INTO api_keys (id, name, prefix, hash, scopes, created_at) VALUES ('k', 'n', 'p', x'00', 'chat', 0)";
            write.ExecuteNonQuery();
            var files = Directory.GetFiles(shared, "codex-api-server.db*");
            Assert.Contains(files, f => f.EndsWith("-wal", StringComparison.Ordinal));
            Assert.All(files, f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    [Theory]
    [InlineData(new[] { "--port" }, "--port needs a value")]
    [InlineData(new[] { "--port", "x" }, "is not a port")]
    [InlineData(new[] { "--bogus" }, "unknown argument")]
    public void Bad_arguments_say_what_is_wrong(string[] args, string expected)
    {
        var e = Assert.Throws<StartupException>(() => CommandLine.Parse(args));
        Assert.Contains(expected, e.Message);
    }
}
