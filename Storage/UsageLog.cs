namespace CodexApiServer.Storage;

public sealed record UsageRow(
    long CreatedAtMs,
    string RequestId,
    string? ApiKeyId,
    string Endpoint,
    string? Model,
    string? Provider,
    int Status,
    long InputTokens,
    long OutputTokens,
    long CachedTokens,
    long ReasoningTokens,
    long LatencyMs);

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

    public long Count()
    {
        using var connection = database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM usage_logs";
        return (long)command.ExecuteScalar()!;
    }
}
