using System.Security.Cryptography;
using System.Text;
using CodexApiServer.Hosting;
using Microsoft.Data.Sqlite;

namespace CodexApiServer.Storage;

/// <summary>API keys: only a SHA-256 hash and a display prefix are stored; the key itself is shown once.</summary>
public sealed class ApiKeyStore(Database database)
{
    public static readonly string[] AllScopes = ["chat", "responses", "messages", "models", "admin"];

    private const string Columns = "id, name, prefix, scopes, created_at, expires_at, last_used_at, requests_per_minute, tokens_per_day, active, revoked_at";

    public (ApiKeyRecord Record, string Key) Create(string name, IReadOnlyList<string> scopes, long? expiresAt, int? requestsPerMinute, long? tokensPerDay)
    {
        var key = ServerSettings.NewSecret("cdx_");
        var record = new ApiKeyRecord(
            "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            name,
            key[..12],
            scopes,
            DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            expiresAt,
            null,
            requestsPerMinute,
            tokensPerDay,
            true,
            null);
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"INSERT INTO api_keys ({Columns}, hash) VALUES ($id, $name, $prefix, $scopes, $created, $expires, NULL, $rpm, $tpd, 1, NULL, $hash)";
        command.Parameters.AddWithValue("$id", record.Id);
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$prefix", record.Prefix);
        command.Parameters.AddWithValue("$scopes", string.Join(' ', scopes));
        command.Parameters.AddWithValue("$created", record.CreatedAt);
        command.Parameters.AddWithValue("$expires", (object?)expiresAt ?? DBNull.Value);
        command.Parameters.AddWithValue("$rpm", (object?)requestsPerMinute ?? DBNull.Value);
        command.Parameters.AddWithValue("$tpd", (object?)tokensPerDay ?? DBNull.Value);
        command.Parameters.AddWithValue("$hash", Hash(key));
        command.ExecuteNonQuery();
        return (record, key);
    }

    public IReadOnlyList<ApiKeyRecord> List()
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM api_keys ORDER BY created_at, id";
        return ReadAll(command);
    }

    public ApiKeyRecord? Get(string id)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM api_keys WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return ReadAll(command).FirstOrDefault();
    }

    /// <summary>The key's record when the presented key matches a stored hash, compared in constant time.</summary>
    public ApiKeyRecord? FindByKey(string presented)
    {
        var hash = Hash(presented);
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns}, hash FROM api_keys WHERE prefix = $prefix";
        command.Parameters.AddWithValue("$prefix", presented.Length >= 12 ? presented[..12] : presented);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            if (CryptographicOperations.FixedTimeEquals((byte[])reader["hash"], hash))
            {
                return Map(reader);
            }
        }
        return null;
    }

    /// <summary>Applies the given changes (null = unchanged) and returns the updated record, or null when absent.</summary>
    public ApiKeyRecord? Update(string id, string? name, IReadOnlyList<string>? scopes, long? expiresAt, bool clearExpiry,
        int? requestsPerMinute, long? tokensPerDay, bool? active)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE api_keys SET
                name = coalesce($name, name),
                scopes = coalesce($scopes, scopes),
                expires_at = CASE WHEN $clear THEN NULL ELSE coalesce($expires, expires_at) END,
                requests_per_minute = CASE WHEN $rpm = 0 THEN NULL ELSE coalesce($rpm, requests_per_minute) END,
                tokens_per_day = CASE WHEN $tpd = 0 THEN NULL ELSE coalesce($tpd, tokens_per_day) END,
                active = CASE WHEN revoked_at IS NULL THEN coalesce($active, active) ELSE 0 END
            WHERE id = $id
            """;
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$name", (object?)name ?? DBNull.Value);
        command.Parameters.AddWithValue("$scopes", scopes is null ? DBNull.Value : string.Join(' ', scopes));
        command.Parameters.AddWithValue("$expires", (object?)expiresAt ?? DBNull.Value);
        command.Parameters.AddWithValue("$clear", clearExpiry);
        command.Parameters.AddWithValue("$rpm", (object?)requestsPerMinute ?? DBNull.Value);
        command.Parameters.AddWithValue("$tpd", (object?)tokensPerDay ?? DBNull.Value);
        command.Parameters.AddWithValue("$active", active is null ? DBNull.Value : active.Value ? 1 : 0);
        return command.ExecuteNonQuery() > 0 ? Get(id) : null;
    }

    public ApiKeyRecord? Revoke(string id, long now)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE api_keys SET active = 0, revoked_at = coalesce(revoked_at, $now) WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$now", now);
        return command.ExecuteNonQuery() > 0 ? Get(id) : null;
    }

    public void TouchLastUsed(string id, long now)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE api_keys SET last_used_at = $now WHERE id = $id AND (last_used_at IS NULL OR last_used_at < $now)";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$now", now);
        command.ExecuteNonQuery();
    }

    public bool Delete(string id)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM api_keys WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteNonQuery() > 0;
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private static List<ApiKeyRecord> ReadAll(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var list = new List<ApiKeyRecord>();
        while (reader.Read())
        {
            list.Add(Map(reader));
        }
        return list;
    }

    private static ApiKeyRecord Map(SqliteDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.GetInt64(4),
        r.IsDBNull(5) ? null : r.GetInt64(5),
        r.IsDBNull(6) ? null : r.GetInt64(6),
        r.IsDBNull(7) ? null : r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetInt64(8),
        r.GetInt64(9) != 0,
        r.IsDBNull(10) ? null : r.GetInt64(10));
}
