using CodexApiServer.Hosting;
using Microsoft.Data.Sqlite;

namespace CodexApiServer.Storage;

/// <summary>
/// The SQLite file: WAL mode, one pooled connection per operation, schema versioned with
/// PRAGMA user_version and moved forward by the migrations below, in order, each in a transaction.
/// </summary>
public sealed class Database
{
    // Append only: a shipped migration never changes, a new one goes at the end.
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            object TEXT NOT NULL,               -- 'response' or 'chat.completion'
            created_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            api_key_id TEXT,
            previous_response_id TEXT,
            session_id TEXT,                    -- the CLI's thread or session, to continue it
            input_json TEXT NOT NULL,           -- the input items of this turn
            body_json TEXT NOT NULL             -- the whole response object as served
        );
        CREATE INDEX responses_created ON responses(created_at, id);
        CREATE INDEX responses_key ON responses(api_key_id, created_at);

        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,               -- what is shown, never enough to use
            hash BLOB NOT NULL UNIQUE,          -- SHA-256 of the whole key
            scopes TEXT NOT NULL,               -- space separated: chat responses models admin
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            last_used_at INTEGER,
            requests_per_minute INTEGER,
            tokens_per_day INTEGER,
            active INTEGER NOT NULL DEFAULT 1,
            revoked_at INTEGER
        );

        CREATE TABLE usage_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at INTEGER NOT NULL,        -- unix milliseconds
            request_id TEXT NOT NULL,
            api_key_id TEXT,
            endpoint TEXT NOT NULL,
            model TEXT,
            provider TEXT,
            status INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms INTEGER NOT NULL
        );
        CREATE INDEX usage_logs_created ON usage_logs(created_at);
        CREATE INDEX usage_logs_key ON usage_logs(api_key_id, created_at);
        """,
        // 2: the request that made a stored response (its usage row has the latency).
        """
        ALTER TABLE responses ADD COLUMN request_id TEXT;
        CREATE INDEX usage_logs_request ON usage_logs(request_id);
        """,
    ];

    private readonly string _connectionString;

    public Database(ServerSettings settings)
        : this(settings.DatabasePath)
    {
    }

    public Database(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    public static int SchemaVersion => Migrations.Length;

    static Database()
    {
        // Linux: SQLite is linked into the executable (see the csproj); macOS: the OS's own
        // libsqlite3.dylib; Windows: the OS's own winsqlite3.dll (System32, Windows 10 and later)
        // when no sqlite3.dll is beside the program. Either way the release is one file.
        if (OperatingSystem.IsWindows())
        {
            System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(SQLitePCL.SQLite3Provider_sqlite3).Assembly, (name, assembly, path) =>
                name == "sqlite3" && !System.Runtime.InteropServices.NativeLibrary.TryLoad(name, assembly, path, out _)
                    && System.Runtime.InteropServices.NativeLibrary.TryLoad(WindowsSqlite, assembly, System.Runtime.InteropServices.DllImportSearchPath.System32, out var system)
                    ? system
                    : IntPtr.Zero);
        }
        SQLitePCL.raw.SetProvider(new SQLitePCL.SQLite3Provider_sqlite3());
    }

    /// <summary>The SQLite every Windows 10+ ships, used when the program has none of its own.</summary>
    public const string WindowsSqlite = "winsqlite3";

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragmas = connection.CreateCommand();
        // NORMAL is durable across a crash of this process in WAL mode; only power loss can drop the last commits.
        pragmas.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;";
        pragmas.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Creates or upgrades the schema. Throws <see cref="StartupException"/> on a file it cannot use.</summary>
    public void Migrate()
    {
        try
        {
            RestrictToOwner();
            using var connection = Open();
            Execute(connection, "PRAGMA journal_mode = WAL;");
            var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
            if (version > Migrations.Length)
            {
                throw new StartupException($"database {Path} has schema version {version}, newer than this program knows ({Migrations.Length}); use a newer codex-api-server or another --data-dir");
            }
            for (var next = version; next < Migrations.Length; next++)
            {
                using var transaction = connection.BeginTransaction();
                Execute(connection, Migrations[next], transaction);
                Execute(connection, $"PRAGMA user_version = {next + 1};", transaction);
                transaction.Commit();
            }
        }
        catch (SqliteException e)
        {
            throw new StartupException($"cannot open database {Path} ({e.Message}); fix its permissions or choose another --data-dir");
        }
    }

    /// <summary>
    /// The database holds prompts, answers and key hashes: owner only. SQLite gives the -wal and -shm
    /// files it creates the mode of the database file, so making that one 0600 first covers them.
    /// </summary>
    private void RestrictToOwner()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (!File.Exists(Path))
        {
            using var created = new FileStream(Path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = ownerOnly });
        }
        foreach (var file in new[] { Path, Path + "-wal", Path + "-shm", Path + "-journal" })
        {
            if (File.Exists(file))
            {
                File.SetUnixFileMode(file, ownerOnly);
            }
        }
    }

    /// <summary>Integrity and size, for /health.</summary>
    public StorageStatus Status()
    {
        try
        {
            using var connection = Open();
            var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
            var journal = (string?)Scalar(connection, "PRAGMA journal_mode;");
            return new StorageStatus("ok", Path, version, journal);
        }
        catch (SqliteException e)
        {
            return new StorageStatus("error: " + e.Message, Path, null, null);
        }
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
