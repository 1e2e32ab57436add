using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace CodexApiServer.Bench;

/// <summary>
/// [9] SIGKILL of the server (the binary, a child process, fresh data dir) under load: API keys created,
/// stored responses, usage rows, chats on both CLIs. Then: no CLI process of the killed server may be left
/// running (its watchdog ends them), and after a restart on the same data dir every acknowledged key and
/// stored response must be there, every usage row committed before the kill too, and PRAGMA
/// integrity_check must say ok.
/// </summary>
public static class KillBench
{
    // The product's own choice of SQLite (Storage/Database.cs): the system library.
    static KillBench() => SQLitePCL.raw.SetProvider(new SQLitePCL.SQLite3Provider_sqlite3());

    public static async Task RunAsync(BenchContext b)
    {
        var loadTime = TimeSpan.FromSeconds(b.Runs ?? 8);
        Console.WriteLine($"\n[9] SIGKILL under load ({loadTime.TotalSeconds:0} s of keys, stored responses and chats first), then restart");
        Console.WriteLine($"  our server: {ServerChild.Describe()}");
        var clock = Stopwatch.StartNew();

        var first = await ServerChild.StartAsync(b.RealConfig(new JsonObject { ["maxConcurrentTurns"] = 8 }), b.ServerEnv());
        var dataDir = first.DataDir;
        var keys = new List<string>();
        var responses = new List<string>();
        var completedRequests = new List<string>();
        var failures = new List<string>();
        var killed = false;
        var stop = new CancellationTokenSource();

        void Ack(List<string> list, string? id)
        {
            lock (list)
            {
                if (!killed && id is not null)
                {
                    list.Add(id);
                }
            }
        }

        async Task Loop(Func<int, Task> step)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    await step(i);
                }
                catch (Exception e) when (!killed)
                {
                    lock (failures)
                    {
                        failures.Add(e.Message.Length > 200 ? e.Message[..200] : e.Message);
                    }
                }
                catch (Exception)
                {
                    return; // the server is gone
                }
            }
        }

        await Chat.StreamAsync(first.Http, Chat.Body(BenchContext.CodexModel, "warm up codex"));
        await Chat.StreamAsync(first.Http, Chat.Body(BenchContext.ClaudeModel, "warm up claude"));
        var workers = new List<Task>
        {
            Loop(async i =>
            {
                var (body, _) = await PostAsync(first.Http, "/v1/api-keys", new JsonObject { ["name"] = $"bench key {i}" }, stop.Token);
                Ack(keys, (string?)body["id"]);
            }),
        };
        for (var w = 0; w < 2; w++)
        {
            var worker = w;
            workers.Add(Loop(async i =>
            {
                var (body, requestId) = await PostAsync(first.Http, "/v1/responses", new JsonObject { ["model"] = BenchContext.CodexModel, ["input"] = $"Stored response {worker}-{i}." }, stop.Token);
                Ack(responses, (string?)body["id"]);
                Ack(completedRequests, requestId);
            }));
        }
        foreach (var model in new[] { BenchContext.ClaudeModel, BenchContext.CodexModel })
        {
            workers.Add(Loop(async i =>
            {
                var (_, _, _, requestId) = await Chat.StreamAsync(first.Http, Chat.Body(model, $"Chat under load {i}."), stop.Token);
                Ack(completedRequests, requestId);
            }));
        }

        await Task.Delay(loadTime);
        // What the database holds right now (a reader beside the server, WAL mode): rows committed before the kill.
        var committedRows = UsageRequestIds(first.DatabasePath);
        var children = Tree.Descendants(first.Pid);
        var commands = children.ToDictionary(p => p, p => PeerBench.ShortCommand(Tree.CommandLine(p)));
        lock (keys)
        {
            lock (responses)
            {
                lock (completedRequests)
                {
                    killed = true;
                }
            }
        }
        first.KillHard();
        await first.WaitExitAsync(TimeSpan.FromSeconds(10));
        var killedAt = Stopwatch.StartNew();
        stop.Cancel();
        await Task.WhenAll(workers);
        Console.WriteLine($"  acknowledged before the kill: {keys.Count} keys, {responses.Count} stored responses, {completedRequests.Count} completed model requests, {committedRows.Count} usage rows committed; {failures.Count} failed requests before the kill");
        foreach (var f in failures.Distinct().Take(3))
        {
            Console.WriteLine($"    failure: {f}");
        }
        Console.WriteLine($"  the server had {children.Count} descendants: {string.Join(", ", children.Select(p => $"{p} {commands[p]}"))}");

        // No CLI of the killed server may outlive it: wait up to 3 s, then end survivors ourselves (by PID) and say so.
        while (killedAt.Elapsed < TimeSpan.FromSeconds(3) && children.Any(Tree.IsAlive))
        {
            await Task.Delay(20);
        }
        var survivors = children.Where(Tree.IsAlive).ToList();
        var gone = killedAt.Elapsed.TotalMilliseconds;
        foreach (var pid in survivors)
        {
            Console.WriteLine($"    still running 3 s after the kill: {pid} {commands[pid]}");
            try
            {
                Process.GetProcessById(pid).Kill();
            }
            catch (Exception)
            {
            }
        }
        Console.WriteLine(survivors.Count == 0 ? $"  all {children.Count} descendants gone {gone:0} ms after the kill" : $"  {survivors.Count} of {children.Count} descendants outlived the kill by 3 s");
        await first.DisposeAsync();

        // Restart on the same data dir: everything acknowledged must be there.
        await using var second = await ServerChild.StartAsync(null, b.ServerEnv(), dataDir);
        var missingKeys = 0;
        foreach (var id in keys)
        {
            using var r = await second.Http.GetAsync($"/v1/api-keys/{id}");
            missingKeys += r.IsSuccessStatusCode ? 0 : 1;
        }
        var missingResponses = 0;
        foreach (var id in responses)
        {
            using var r = await second.Http.GetAsync($"/v1/responses/{id}");
            missingResponses += r.IsSuccessStatusCode ? 0 : 1;
        }
        await second.StopAsync();
        var rowsAfter = UsageRequestIds(second.DatabasePath);
        var missingRows = committedRows.Count(id => !rowsAfter.Contains(id));
        var completedWithoutRow = completedRequests.Count(id => !rowsAfter.Contains(id));
        var integrity = Integrity(second.DatabasePath);
        Console.WriteLine($"  after restart: {keys.Count - missingKeys}/{keys.Count} keys, {responses.Count - missingResponses}/{responses.Count} stored responses, {committedRows.Count - missingRows}/{committedRows.Count} committed usage rows; PRAGMA integrity_check: {integrity}");
        Console.WriteLine($"  completed model requests without a usage row: {completedWithoutRow} of {completedRequests.Count} (a row is written just after its response ends: the kill can fall between)");

        b.Results.Add(["9 SIGKILL: children left", "both", $"{survivors.Count} of {children.Count} running", "3 s after the kill", survivors.Count == 0 ? $"all gone in {gone:0} ms" : "some outlived it", "0", BenchContext.Pass(survivors.Count == 0)]);
        b.Results.Add(["9 SIGKILL: acknowledged data", "both", $"{keys.Count - missingKeys}/{keys.Count} keys, {responses.Count - missingResponses}/{responses.Count} responses, {committedRows.Count - missingRows}/{committedRows.Count} usage rows", "before the kill", $"{missingKeys + missingResponses + missingRows} missing", "0 missing", BenchContext.Pass(missingKeys + missingResponses + missingRows == 0 && keys.Count > 0 && responses.Count > 0)]);
        b.Results.Add(["9 SIGKILL: integrity_check", "", integrity, "", "", "ok", BenchContext.Pass(integrity == "ok")]);
        Tests.Support.TempDir.Delete(dataDir);
        Console.WriteLine($"  [9] took {clock.Elapsed.TotalSeconds:0} s");
    }

    private static async Task<(JsonNode Body, string? RequestId)> PostAsync(HttpClient http, string path, JsonObject body, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {text}");
        }
        var requestId = response.Headers.TryGetValues("x-request-id", out var ids) ? ids.FirstOrDefault() : null;
        return (JsonNode.Parse(text)!, requestId);
    }

    private static HashSet<string> UsageRequestIds(string db)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT request_id FROM usage_logs";
        using var reader = command.ExecuteReader();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    private static string Integrity(string db)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        return string.Join("; ", Read(command));
    }

    private static IEnumerable<string> Read(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return reader.GetString(0);
        }
    }
}
