namespace CodexApiServer.Storage;

/// <summary>One row per request, written after the response is complete, failed ones included.</summary>
public sealed class UsageLog(Database database)
{
    public void Write(UsageRow row)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO usage_logs (created_at, request_id, api_key_id, endpoint, model, provider, status,
                input_tokens, output_tokens, cached_tokens, reasoning_tokens, latency_ms)
            VALUES ($created, $request, $key, $endpoint, $model, $provider, $status, $input, $output, $cached, $reasoning, $latency)
            """;
        command.Parameters.AddWithValue("$created", row.CreatedAtMs);
        command.Parameters.AddWithValue("$request", row.RequestId);
        command.Parameters.AddWithValue("$key", (object?)row.ApiKeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$endpoint", row.Endpoint);
        command.Parameters.AddWithValue("$model", (object?)row.Model ?? DBNull.Value);
        command.Parameters.AddWithValue("$provider", (object?)row.Provider ?? DBNull.Value);
        command.Parameters.AddWithValue("$status", row.Status);
        command.Parameters.AddWithValue("$input", row.InputTokens);
        command.Parameters.AddWithValue("$output", row.OutputTokens);
        command.Parameters.AddWithValue("$cached", row.CachedTokens);
        command.Parameters.AddWithValue("$reasoning", row.ReasoningTokens);
        command.Parameters.AddWithValue("$latency", row.LatencyMs);
        command.ExecuteNonQuery();
    }

    /// <summary>Input plus output tokens a key used since a time (unix ms).</summary>
    public long TokensSince(string apiKeyId, long sinceMs) =>
        (long)Scalar("SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage_logs WHERE api_key_id = $key AND created_at > $since", apiKeyId, sinceMs)!;

    /// <summary>When the oldest token use in the window happened, so a client knows when the budget frees up.</summary>
    public long? OldestTokenUseSince(string apiKeyId, long sinceMs) =>
        Scalar("SELECT min(created_at) FROM usage_logs WHERE api_key_id = $key AND created_at > $since AND input_tokens + output_tokens > 0", apiKeyId, sinceMs) is long t ? t : null;

    /// <summary>The model of <paramref name="provider"/> answered most often since a time (unix ms), or null.</summary>
    public string? MostUsedModel(string provider, long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT model FROM usage_logs
            WHERE created_at > $since AND provider = $provider AND model IS NOT NULL AND status < 400
            GROUP BY model ORDER BY count(*) DESC, max(created_at) DESC LIMIT 1
            """;
        command.Parameters.AddWithValue("$since", sinceMs);
        command.Parameters.AddWithValue("$provider", provider);
        return command.ExecuteScalar() as string;
    }

    private object? Scalar(string sql, string apiKeyId, long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$key", apiKeyId);
        command.Parameters.AddWithValue("$since", sinceMs);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    /// <summary>Totals for one key, per model, since a time (unix ms).</summary>
    public IReadOnlyList<UsageTotals> TotalsByModel(string? apiKeyId, long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT coalesce(model, ''), count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens),
                   sum(cached_tokens), sum(reasoning_tokens), coalesce(avg(latency_ms), 0)
            FROM usage_logs WHERE ($key IS NULL OR api_key_id = $key) AND created_at > $since
            GROUP BY model ORDER BY count(*) DESC
            """;
        command.Parameters.AddWithValue("$key", (object?)apiKeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$since", sinceMs);
        using var reader = command.ExecuteReader();
        var list = new List<UsageTotals>();
        while (reader.Read())
        {
            list.Add(new UsageTotals(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), (long)reader.GetDouble(7)));
        }
        return list;
    }

    public IReadOnlyList<KeyTotals> TotalsByKey(long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT api_key_id, count(*), sum(status >= 400), sum(input_tokens), sum(output_tokens)
            FROM usage_logs WHERE created_at > $since GROUP BY api_key_id ORDER BY count(*) DESC
            """;
        command.Parameters.AddWithValue("$since", sinceMs);
        using var reader = command.ExecuteReader();
        var list = new List<KeyTotals>();
        while (reader.Read())
        {
            list.Add(new KeyTotals(reader.IsDBNull(0) ? null : reader.GetString(0), "", reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        return list;
    }

    /// <summary>Requests and tokens per hour (hour = unix seconds at its start).</summary>
    public IReadOnlyList<HourTotals> TotalsByHour(long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (created_at / 3600000) * 3600, count(*), sum(status >= 400), sum(input_tokens + output_tokens)
            FROM usage_logs WHERE created_at > $since GROUP BY 1 ORDER BY 1
            """;
        command.Parameters.AddWithValue("$since", sinceMs);
        using var reader = command.ExecuteReader();
        var list = new List<HourTotals>();
        while (reader.Read())
        {
            list.Add(new HourTotals(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        }
        return list;
    }

    /// <summary>Requests, errors and tokens since a time (unix ms), under a window name ("hour", "day", "week").</summary>
    public WindowTotals TotalsSince(string window, long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT count(*), coalesce(sum(status >= 400), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
            FROM usage_logs WHERE created_at > $since
            """;
        command.Parameters.AddWithValue("$since", sinceMs);
        using var reader = command.ExecuteReader();
        reader.Read();
        return new WindowTotals(window, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>Median and 95th percentile latency of the successful requests per provider since a time (unix ms).</summary>
    public IReadOnlyList<ProviderLatency> LatencyByProvider(long sinceMs)
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT provider, latency_ms FROM usage_logs
            WHERE created_at > $since AND provider IS NOT NULL AND status < 400 ORDER BY provider, latency_ms
            """;
        command.Parameters.AddWithValue("$since", sinceMs);
        using var reader = command.ExecuteReader();
        var byProvider = new List<(string Provider, List<long> Latencies)>();
        while (reader.Read())
        {
            var provider = reader.GetString(0);
            if (byProvider.Count == 0 || byProvider[^1].Provider != provider)
            {
                byProvider.Add((provider, []));
            }
            byProvider[^1].Latencies.Add(reader.GetInt64(1));
        }
        // Nearest rank on the sorted list.
        static long Rank(List<long> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
        return byProvider.Select(p => new ProviderLatency(p.Provider, p.Latencies.Count, Rank(p.Latencies, 0.5), Rank(p.Latencies, 0.95))).ToList();
    }

    /// <summary>The latency in milliseconds of each of these requests that has a usage row.</summary>
    public Dictionary<string, long> LatencyOf(IReadOnlyCollection<string> requestIds)
    {
        var latency = new Dictionary<string, long>(StringComparer.Ordinal);
        if (requestIds.Count == 0)
        {
            return latency;
        }
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        var names = requestIds.Select((id, i) =>
        {
            command.Parameters.AddWithValue("$r" + i, id);
            return "$r" + i;
        }).ToList();
        command.CommandText = $"SELECT request_id, latency_ms FROM usage_logs WHERE request_id IN ({string.Join(", ", names)})";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            latency[reader.GetString(0)] = reader.GetInt64(1);
        }
        return latency;
    }

    public long Count()
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM usage_logs";
        return (long)command.ExecuteScalar()!;
    }
}
