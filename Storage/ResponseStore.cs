using Microsoft.Data.Sqlite;

namespace CodexApiServer.Storage;

/// <summary>Stored responses and chat completions, in the responses table.</summary>
public sealed class ResponseStore(Database database)
{
    private const string Columns = "id, object, created_at, status, model, provider, api_key_id, previous_response_id, session_id, input_json, body_json, request_id";

    /// <summary>Inserts or replaces the row: a response is saved when it starts and again when it ends.</summary>
    public void Save(StoredResponse r)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            INSERT INTO responses ({Columns})
            VALUES ($id, $object, $created, $status, $model, $provider, $key, $previous, $session, $input, $body, $request)
            ON CONFLICT(id) DO UPDATE SET status = excluded.status, session_id = excluded.session_id, body_json = excluded.body_json
            """;
        command.Parameters.AddWithValue("$id", r.Id);
        command.Parameters.AddWithValue("$object", r.Object);
        command.Parameters.AddWithValue("$created", r.CreatedAt);
        command.Parameters.AddWithValue("$status", r.Status);
        command.Parameters.AddWithValue("$model", r.Model);
        command.Parameters.AddWithValue("$provider", r.Provider);
        command.Parameters.AddWithValue("$key", (object?)r.ApiKeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$previous", (object?)r.PreviousResponseId ?? DBNull.Value);
        command.Parameters.AddWithValue("$session", (object?)r.SessionId ?? DBNull.Value);
        command.Parameters.AddWithValue("$input", r.InputJson);
        command.Parameters.AddWithValue("$body", r.BodyJson);
        command.Parameters.AddWithValue("$request", (object?)r.RequestId ?? DBNull.Value);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// At start: a response still queued or in progress was cut off when the server last stopped
    /// (a crash, SIGKILL); nothing will finish it, so it is failed rather than left waiting forever.
    /// </summary>
    /// <returns>How many were failed.</returns>
    public int FailUnfinished()
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE responses SET status = 'failed',
                body_json = json_set(body_json, '$.status', 'failed', '$.error', json_object('code', 'server_error',
                    'message', 'The server stopped before this response finished; send the request again.'))
            WHERE object = 'response' AND status IN ('queued', 'in_progress')
            """;
        return command.ExecuteNonQuery();
    }

    /// <summary>The row with this id and object type, or null.</summary>
    public StoredResponse? Get(string id, string objectType = "response")
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM responses WHERE id = $id AND object = $object";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$object", objectType);
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    public bool Delete(string id, string objectType = "response")
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM responses WHERE id = $id AND object = $object";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$object", objectType);
        return command.ExecuteNonQuery() > 0;
    }

    /// <summary>A page of responses ordered by (created_at, id), after the cursor row if given.</summary>
    /// <param name="apiKeyId">Only this key's rows, or every row when null.</param>
    public (IReadOnlyList<StoredResponse> Rows, bool HasMore) List(string? apiKeyId, int limit, StoredResponse? after, bool ascending)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        var where = "object = 'response'";
        if (apiKeyId is not null)
        {
            where += " AND api_key_id = $key";
            command.Parameters.AddWithValue("$key", apiKeyId);
        }
        if (after is not null)
        {
            where += ascending
                ? " AND (created_at > $afterCreated OR (created_at = $afterCreated AND id > $afterId))"
                : " AND (created_at < $afterCreated OR (created_at = $afterCreated AND id < $afterId))";
            command.Parameters.AddWithValue("$afterCreated", after.CreatedAt);
            command.Parameters.AddWithValue("$afterId", after.Id);
        }
        var direction = ascending ? "ASC" : "DESC";
        command.CommandText = $"SELECT {Columns} FROM responses WHERE {where} ORDER BY created_at {direction}, id {direction} LIMIT $limit";
        return ReadPage(command, limit);
    }

    /// <summary>
    /// A page of stored responses and chat completions, newest first, for the console's history: keyset
    /// paging on (created_at, id), so a page costs the same on row 20 as on row 20 000.
    /// </summary>
    public (IReadOnlyList<StoredResponse> Rows, bool HasMore) Search(HistoryFilter filter, int limit, (long CreatedAt, string Id)? before)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        var where = new List<string> { "1 = 1" };
        void Add(string clause, string name, object value)
        {
            where.Add(clause);
            command.Parameters.AddWithValue(name, value);
        }
        if (filter.Object is { } o)
        {
            Add("object = $object", "$object", o);
        }
        if (filter.Model is { } m)
        {
            Add("model = $model", "$model", m);
        }
        if (filter.Status is { } st)
        {
            Add("status = $status", "$status", st);
        }
        if (filter.ApiKeyId is "none")
        {
            where.Add("api_key_id IS NULL");
        }
        else if (filter.ApiKeyId is { } k)
        {
            Add("api_key_id = $key", "$key", k);
        }
        if (filter.Text is { Length: > 0 } t)
        {
            Add(@"(input_json LIKE $text ESCAPE '\' OR body_json LIKE $text ESCAPE '\')", "$text",
                "%" + t.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal) + "%");
        }
        if (before is { } b)
        {
            where.Add("(created_at < $beforeCreated OR (created_at = $beforeCreated AND id < $beforeId))");
            command.Parameters.AddWithValue("$beforeCreated", b.CreatedAt);
            command.Parameters.AddWithValue("$beforeId", b.Id);
        }
        command.CommandText = $"SELECT {Columns} FROM responses WHERE {string.Join(" AND ", where)} ORDER BY created_at DESC, id DESC LIMIT $limit";
        return ReadPage(command, limit);
    }

    /// <summary>The row with this id, a response or a chat completion, or null.</summary>
    public StoredResponse? Find(string id)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM responses WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>The ids of the responses that continue this one (previous_response_id = id), oldest first.</summary>
    public IReadOnlyList<string> Continuations(string id)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM responses WHERE previous_response_id = $id ORDER BY created_at, id LIMIT 100";
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    /// <summary>Up to <paramref name="limit"/> rows of a query that asks for one more, and whether there was that one more.</summary>
    private static (List<StoredResponse> Rows, bool HasMore) ReadPage(SqliteCommand command, int limit)
    {
        command.Parameters.AddWithValue("$limit", limit + 1);
        var rows = new List<StoredResponse>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            rows.Add(Read(reader));
        }
        var hasMore = rows.Count > limit;
        if (hasMore)
        {
            rows.RemoveAt(rows.Count - 1);
        }
        return (rows, hasMore);
    }

    private static StoredResponse Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetString(6),
        r.IsDBNull(7) ? null : r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8),
        r.GetString(9), r.GetString(10),
        r.IsDBNull(11) ? null : r.GetString(11));
}
