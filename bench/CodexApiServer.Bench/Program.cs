using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CodexApiServer.Bench;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;

// One run, all on 127.0.0.1: the real codex and claude CLIs (tests/node) against the tests' mock
// model servers. Every figure compared below is measured in this same run, interleaved where it
// can be, so the machine's load falls on both sides alike.
// `--runs N` shortens a trial run; the figures in README.md use the defaults.
var runsArg = Array.IndexOf(args, "--runs") is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : (int?)null;
// `--dump DIR` writes the upstream request bodies of [3] and the last turn of each [4] run there.
var dumpDir = Array.IndexOf(args, "--dump") is var dumpAt and >= 0 && dumpAt + 1 < args.Length ? Directory.CreateDirectory(args[dumpAt + 1]).FullName : null;
// `--only N` runs measure N alone (a trial of one measure; [6]-[9] run only this way, see README.md);
// `--tool-time MS` sets [5]'s tool time.
var only = Array.IndexOf(args, "--only") is var onlyAt and >= 0 && onlyAt + 1 < args.Length ? int.Parse(args[onlyAt + 1]) : (int?)null;
var toolTime = TimeSpan.FromMilliseconds(Array.IndexOf(args, "--tool-time") is var ttAt and >= 0 && ttAt + 1 < args.Length ? int.Parse(args[ttAt + 1]) : 1000);
const int Warmups = 2;
var Runs = runsArg ?? 20;
var FreshRuns = runsArg ?? 10;
var ChatTurns = runsArg ?? 10;
var ToolRuns = runsArg ?? 10;
const string CodexModel = "gpt-5.2-codex";
const string ClaudeModel = "claude-sonnet-4-5";
const string Prompt = "Say hello.";
// ClaudeProvider/CodexProvider defaults for a request without instructions.
const string CodexChatInstructions = "You are a helpful assistant.";
var claudeSettle = TimeSpan.FromMilliseconds(2500);
// [5]: one client tool, and a prompt whose markers make the mocks call it once (ToolScript).
const string ToolOutput = "sunny in Paris, 21C";
var toolDefinitions = JsonNode.Parse("""
    [{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]
    """)!.AsArray();
var thinkTime = TimeSpan.FromMilliseconds(1500);

var bin = FindBin();
var codex = Path.Combine(bin, "codex");
var claude = Path.Combine(bin, "claude");
var started = DateTimeOffset.Now;
var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
Console.WriteLine($"codex-api-server bench, {started:yyyy-MM-dd HH:mm zzz}; load average {loadBefore}; {Environment.ProcessorCount} cores");
Console.WriteLine($"CLIs: {codex}, {claude}");

await using var codexMock = await MockResponsesUpstream.StartAsync();
await using var claudeMock = await MockAnthropicUpstream.StartAsync();
var codexEnv = codexMock.CodexEnvironment();
var claudeHome = TempDir.Create("claude-home");
var claudeEnv = claudeMock.ClaudeEnvironment(claudeHome);
var results = new List<string[]>();
var repoRoot = Path.GetFullPath(Path.Combine(bin, "..", "..", "..", ".."));
// [6]-[9] run the server as a child process: `--bin PATH` (default out/codex-api-server, from `dotnet publish -c Release -o out`).
var binArg = Array.IndexOf(args, "--bin") is var binAt and >= 0 && binAt + 1 < args.Length ? Path.GetFullPath(args[binAt + 1]) : null;
ServerChild.Binary = binArg ?? (File.Exists(Path.Combine(repoRoot, "out", "codex-api-server")) ? Path.Combine(repoRoot, "out", "codex-api-server") : null);
var context = new BenchContext(repoRoot, codex, claude, codexMock, claudeMock, codexEnv, claudeEnv, runsArg, results);

if (only is >= 6 and <= 9)
{
    try
    {
        await (only switch
        {
            6 => PeerBench.RunAsync(context),
            7 => LoadBench.RunAsync(context, args),
            8 => MemoryBench.RunAsync(context),
            _ => KillBench.RunAsync(context),
        });
    }
    finally
    {
        Children.EndAll();
        TempDir.Delete(claudeHome);
    }
    Console.WriteLine($"\nSummary ({started:yyyy-MM-dd HH:mm}, load average before {loadBefore}, after {File.ReadAllText("/proc/loadavg").Trim()}; server: {ServerChild.Describe()})");
    PrintTable(["measure", "cli", "our server", "compared with", "result", "target", "met"], results);
    return;
}

try
{
    await using var server = await BenchServer.StartAsync(codex, claude,
        new CodexProviderOptions { Environment = codexEnv },
        new ClaudeProviderOptions { Environment = claudeEnv });

    if (only is null or >= 1 and <= 4)
    {
        // ---- 1. TTFT of a new conversation: our server vs the same warm CLI driven directly ----
        Console.WriteLine("\n[1] TTFT, new conversation: server vs warm CLI driven directly");
        await using var direct = await CodexDirect.StartAsync(codex, codexEnv);
        var codexServer = new List<double>();
        var codexDirect = new List<double>();
        JsonNode? codexChatBody = null;
        for (var i = 0; i < Warmups + Runs; i++)
        {
            // Alternate which side goes first, so neither always runs right after the other.
            for (var side = 0; side < 2; side++)
            {
                if ((side + i) % 2 == 0)
                {
                    var before = codexMock.Requests.Count;
                    var (first, _, text) = await server.ChatAsync(CodexModel, [("user", Prompt)]);
                    codexChatBody = codexMock.Requests[before];
                    await server.ForgetSessionAsync(CodexModel, ProviderKind.Codex, [("user", Prompt), ("assistant", text)]);
                    if (i >= Warmups)
                    {
                        codexServer.Add(first);
                    }
                }
                else
                {
                    var (first, _) = await direct.NewConversationTurnAsync(CodexModel, Prompt, CodexChatInstructions);
                    if (i >= Warmups)
                    {
                        codexDirect.Add(first);
                    }
                }
            }
            await Task.Delay(200);
        }
        Report("codex", codexServer, codexDirect);

        var claudeServer = new List<double>();
        var claudeDirect = new List<double>();
        RecordedRequest? claudeChatRequest = null;
        for (var i = 0; i < Warmups + Runs; i++)
        {
            // The direct process starts now, and the server's spare was started after its last request:
            // both get the same time to load before the request comes.
            var prestarted = ClaudePrestarted.Start(claude, ClaudeModel, claudeEnv);
            await Task.Delay(claudeSettle);
            for (var side = 0; side < 2; side++)
            {
                if ((side + i) % 2 == 0)
                {
                    var before = claudeMock.MessageRequests.Length;
                    var (first, _, text) = await server.ChatAsync(ClaudeModel, [("user", Prompt)]);
                    claudeChatRequest = claudeMock.MessageRequests.Skip(before).First();
                    await server.ForgetSessionAsync(ClaudeModel, ProviderKind.Claude, [("user", Prompt), ("assistant", text)]);
                    if (i >= Warmups)
                    {
                        claudeServer.Add(first);
                    }
                }
                else
                {
                    var (first, _) = await prestarted.TurnAsync(Prompt);
                    if (i >= Warmups)
                    {
                        claudeDirect.Add(first);
                    }
                }
            }
        }
        Report("claude", claudeServer, claudeDirect);

        // ---- 2. TTFT vs a fresh CLI process per request (the original product) ----
        Console.WriteLine("\n[2] TTFT, new conversation: server vs a fresh CLI per request");
        var codexFresh = new List<double>();
        JsonNode? codexDefaultBody = null;
        for (var i = 0; i < Warmups + FreshRuns; i++)
        {
            var before = codexMock.Requests.Count;
            var ms = await FreshCli.CodexExecAsync(codex, CodexModel, Prompt, codexEnv);
            codexDefaultBody = codexMock.Requests[before];
            if (i >= Warmups)
            {
                codexFresh.Add(ms);
            }
        }
        var claudeFresh = new List<double>();
        RecordedRequest? claudeDefaultRequest = null;
        var claudeDefaultCalls = 0;
        for (var i = 0; i < Warmups + FreshRuns; i++)
        {
            var before = claudeMock.MessageRequests.Length;
            var ms = await FreshCli.ClaudeTextAsync(claude, ClaudeModel, Prompt, claudeEnv);
            await Task.Delay(300);
            var calls = claudeMock.MessageRequests.Skip(before).ToArray();
            claudeDefaultCalls = calls.Length;
            // The answer's request: the one that carries the prompt (others, if any, are the CLI's own side calls).
            claudeDefaultRequest = calls.Where(r => r.Body.Contains(Prompt, StringComparison.Ordinal)).MaxBy(r => r.Bytes);
            if (i >= Warmups)
            {
                claudeFresh.Add(ms);
            }
        }
        var codexFreshRatio = Median(codexFresh) / Median(codexServer);
        var claudeFreshRatio = Median(claudeFresh) / Median(claudeServer);
        Console.WriteLine($"  codex:  server {Median(codexServer):0.0} ms, fresh `codex exec` {Median(codexFresh):0.0} ms -> {codexFreshRatio:0.0}x faster");
        Console.WriteLine($"  claude: server {Median(claudeServer):0.0} ms, fresh `claude -p` {Median(claudeFresh):0.0} ms -> {claudeFreshRatio:0.0}x faster");
        results.Add(["2 TTFT vs fresh CLI", "codex", $"{Median(codexServer):0.0} ms", $"{Median(codexFresh):0.0} ms (codex exec)", $"{codexFreshRatio:0.0}x faster", "≥ 5x", Pass(codexFreshRatio >= 5)]);
        results.Add(["2 TTFT vs fresh CLI", "claude", $"{Median(claudeServer):0.0} ms", $"{Median(claudeFresh):0.0} ms (claude -p)", $"{claudeFreshRatio:0.0}x faster", "≥ 5x", Pass(claudeFreshRatio >= 5)]);

        // ---- 3. Bytes sent upstream for one plain chat turn ----
        Console.WriteLine("\n[3] Upstream request body of one plain chat turn");
        var codexChatBytes = Bytes(codexChatBody!);
        var codexDefaultBytes = Bytes(codexDefaultBody!);
        var claudeChatBytes = claudeChatRequest!.Bytes;
        var claudeDefaultBytes = claudeDefaultRequest?.Bytes ?? 0;
        if (dumpDir is not null)
        {
            // The bodies as sent, for a closer look.
            File.WriteAllBytes(Path.Combine(dumpDir, "codex-chat.json"), Serialize(codexChatBody));
            File.WriteAllBytes(Path.Combine(dumpDir, "codex-defaults.json"), Serialize(codexDefaultBody));
            File.WriteAllText(Path.Combine(dumpDir, "claude-chat.json"), claudeChatRequest.Body);
            File.WriteAllText(Path.Combine(dumpDir, "claude-defaults.json"), claudeDefaultRequest?.Body ?? "");
        }
        Console.WriteLine($"  codex:  chat mode {codexChatBytes} B, CLI defaults (codex exec) {codexDefaultBytes} B");
        Breakdown("codex chat mode", codexChatBody!);
        Breakdown("codex defaults", codexDefaultBody!);
        Console.WriteLine($"  claude: chat mode {claudeChatBytes} B, CLI defaults (claude -p) {claudeDefaultBytes} B ({claudeDefaultCalls} model call(s) per `claude -p`)");
        Breakdown("claude chat mode", claudeChatRequest.Json);
        if (claudeDefaultRequest is not null)
        {
            Breakdown("claude defaults", claudeDefaultRequest.Json);
        }
        results.Add(["3 upstream bytes/turn", "codex", $"{codexChatBytes} B", $"{codexDefaultBytes} B (defaults)", $"{(double)codexDefaultBytes / codexChatBytes:0.0}x smaller", "≤ 2048 B", Pass(codexChatBytes <= 2048)]);
        results.Add(["3 upstream bytes/turn", "claude", $"{claudeChatBytes} B", $"{claudeDefaultBytes} B (defaults)", $"{(double)claudeDefaultBytes / claudeChatBytes:0.0}x smaller", "≤ 2048 B", Pass(claudeChatBytes <= 2048)]);

        // ---- 4. A 10-turn chat: live session reused vs a fresh session re-seeded every turn ----
        Console.WriteLine($"\n[4] {ChatTurns}-turn chat through /v1/chat/completions (think time {thinkTime.TotalMilliseconds:0} ms between turns, not counted)");
        foreach (var (cli, model, kind) in new[] { ("codex", CodexModel, ProviderKind.Codex), ("claude", ClaudeModel, ProviderKind.Claude) })
        {
            Func<int> count = kind == ProviderKind.Codex ? () => codexMock.Requests.Count : () => claudeMock.MessageRequests.Length;
            Func<int, long> bytesFrom = kind == ProviderKind.Codex
                ? from => codexMock.Requests.Skip(from).Sum(Bytes)
                : from => claudeMock.MessageRequests.Skip(from).Sum(r => (long)r.Bytes);
            var figures = new Dictionary<bool, (double Ms, long Bytes, int Calls)>();
            foreach (var reuse in new[] { true, false })
            {
                await Task.Delay(kind == ProviderKind.Claude ? claudeSettle : TimeSpan.Zero);
                var history = new List<(string Role, string Text)>();
                var from = count();
                double total = 0;
                for (var turn = 1; turn <= ChatTurns; turn++)
                {
                    if (!reuse && history.Count > 0)
                    {
                        await server.ForgetSessionAsync(model, kind, history);
                    }
                    history.Add(("user", $"Turn {turn}: tell me one short fact about the number {turn}."));
                    var (_, ms, text) = await server.ChatAsync(model, history);
                    history.Add(("assistant", text));
                    total += ms;
                    await Task.Delay(thinkTime);
                }
                await server.ForgetSessionAsync(model, kind, history);
                figures[reuse] = (total, bytesFrom(from), count() - from);
                if (dumpDir is not null)
                {
                    File.WriteAllBytes(Path.Combine(dumpDir, $"{cli}-turn{ChatTurns}-{(reuse ? "reused" : "reseeded")}.json"),
                        kind == ProviderKind.Codex ? Serialize(codexMock.Requests[^1]) : Encoding.UTF8.GetBytes(claudeMock.MessageRequests[^1].Body));
                }
                Console.WriteLine($"  {cli,-6} {(reuse ? "(a) live session reused" : "(b) fresh session each turn"),-28} total {total,7:0} ms, upstream {figures[reuse].Bytes,7} B in {figures[reuse].Calls} model calls");
            }
            var (a, b) = (figures[true], figures[false]);
            results.Add([$"4 {ChatTurns}-turn chat latency", cli, $"{a.Ms:0} ms (reused)", $"{b.Ms:0} ms (re-seeded)", Saving(a.Ms, b.Ms), "", ""]);
            results.Add([$"4 {ChatTurns}-turn chat upstream", cli, $"{a.Bytes} B (reused)", $"{b.Bytes} B (re-seeded)", Saving(a.Bytes, b.Bytes), "", ""]);
        }
    }

    // ---- 5. Tool round trip: the follow-up with the tool result through the server vs answering the CLI directly ----
    if (only is null or 5)
    {
        Console.WriteLine($"\n[5] Tool round trip: result in -> first token of the rest of the turn (tool time {toolTime.TotalMilliseconds:0} ms, not counted)");
        await using var codexTools = await CodexDirect.StartAsync(codex, codexEnv);
        var serverMs = new List<double>();
        var directMs = new List<double>();
        for (var i = 0; i < Warmups + ToolRuns; i++)
        {
            for (var side = 0; side < 2; side++)
            {
                var ms = (side + i) % 2 == 0
                    ? await ServerToolRoundTripAsync(server, CodexModel, ProviderKind.Codex)
                    : await codexTools.ToolRoundTripAsync(BenchServer.TurnRequestOf(ToolChat(CodexModel, [ToolUser()], false), ProviderKind.Codex), ToolOutput, toolTime);
                if (i >= Warmups)
                {
                    ((side + i) % 2 == 0 ? serverMs : directMs).Add(ms);
                }
            }
            await Task.Delay(200);
        }
        ReportTools("codex", serverMs, directMs);

        serverMs.Clear();
        directMs.Clear();
        for (var i = 0; i < Warmups + ToolRuns; i++)
        {
            // As in [1]: the direct process and the server's spare (for this tool set) both get time to load.
            var prestarted = ClaudeToolPrestarted.Start(claude, BenchServer.TurnRequestOf(ToolChat(ClaudeModel, [ToolUser()], false), ProviderKind.Claude), claudeEnv);
            await Task.Delay(claudeSettle);
            for (var side = 0; side < 2; side++)
            {
                var ms = (side + i) % 2 == 0
                    ? await ServerToolRoundTripAsync(server, ClaudeModel, ProviderKind.Claude)
                    : await prestarted.ToolRoundTripAsync(ToolOutput, toolTime);
                if (i >= Warmups)
                {
                    ((side + i) % 2 == 0 ? serverMs : directMs).Add(ms);
                }
            }
        }
        ReportTools("claude", serverMs, directMs);
    }
}
finally
{
    Children.EndAll();
    TempDir.Delete(claudeHome);
}

var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
Console.WriteLine($"\nSummary ({started:yyyy-MM-dd HH:mm}, load average before {loadBefore}, after {loadAfter}; medians of {Runs} runs after {Warmups} warm-ups, {FreshRuns} for fresh CLIs, {ToolRuns} for tool round trips)");
PrintTable(["measure", "cli", "our server", "compared with", "result", "target", "met"], results);
return;

void Report(string cli, List<double> serverMs, List<double> directMs)
{
    var s = Median(serverMs);
    var d = Median(directMs);
    var ratio = s / d;
    var within = s <= d * 1.10 || s - d <= 5;
    Console.WriteLine($"  {cli}: server median {s:0.0} ms [{serverMs.Min():0.0}..{serverMs.Max():0.0}], direct median {d:0.0} ms [{directMs.Min():0.0}..{directMs.Max():0.0}], ratio {ratio:0.00}, +{s - d:0.0} ms");
    results.Add(["1 TTFT vs warm CLI", cli, $"{s:0.0} ms", $"{d:0.0} ms (direct)", $"{ratio:0.00}x ({s - d:+0.0;-0.0} ms)", "≤ 1.10x or ≤ +5 ms", Pass(within)]);
}

// One tool round trip through the server: the request that makes the model call the tool (not timed),
// the tool time, then the follow-up with the result, timed to its first content chunk.
async Task<double> ServerToolRoundTripAsync(BenchServer server, string model, ProviderKind kind)
{
    var user = ToolUser();
    var first = await server.ChatJsonAsync(ToolChat(model, [user.DeepClone()], false));
    var choice = first["choices"]![0]!;
    if ((string?)choice["finish_reason"] != "tool_calls" || choice["message"]?["tool_calls"]?[0] is not { } call)
    {
        throw new InvalidOperationException("the model did not call the tool: " + first.ToJsonString());
    }
    await Task.Delay(toolTime);
    var followUp = ToolChat(model, [user, choice["message"]!.DeepClone(),
        new JsonObject { ["role"] = "tool", ["tool_call_id"] = call["id"]!.DeepClone(), ["content"] = ToolOutput }], true);
    var (ms, _, text) = await server.ChatStreamAsync(followUp);
    if (text != ToolScript.FinalAnswer([(ToolOutput, false)]))
    {
        throw new InvalidOperationException("the turn did not go on with the tool result: " + text);
    }
    if (!await server.ForgetSessionAsync(followUp, kind, text))
    {
        Console.WriteLine($"  warning: no live {kind} session to end after the tool round trip");
    }
    return ms;
}

void ReportTools(string cli, List<double> serverMs, List<double> directMs)
{
    var s = Median(serverMs);
    var d = Median(directMs);
    var ratio = s / d;
    var within = s <= d * 1.10 || s - d <= 5;
    Console.WriteLine($"  {cli}: server median {s:0.0} ms [{serverMs.Min():0.0}..{serverMs.Max():0.0}], direct median {d:0.0} ms [{directMs.Min():0.0}..{directMs.Max():0.0}], ratio {ratio:0.00}, {s - d:+0.0;-0.0} ms");
    results.Add(["5 tool round trip", cli, $"{s:0.0} ms", $"{d:0.0} ms (direct)", $"{ratio:0.00}x ({s - d:+0.0;-0.0} ms)", "≤ 1.10x or ≤ +5 ms", Pass(within)]);
}

static string Pass(bool ok) => ok ? "yes" : "NO";

static string Saving(double reused, double reseeded) =>
    reused <= reseeded ? $"{1 - reused / reseeded:P0} less when reused" : $"{reused / reseeded - 1:P0} more when reused";

JsonObject ToolUser() => new() { ["role"] = "user", ["content"] = "What is the weather in Paris? " + ToolScript.Marker("get_weather", """{"city":"Paris"}""") };

JsonObject ToolChat(string model, JsonArray messages, bool stream) =>
    new() { ["model"] = model, ["stream"] = stream, ["messages"] = messages, ["tools"] = toolDefinitions.DeepClone() };

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

// Codex's mock keeps parsed bodies: they are measured as compact JSON without needless escapes,
// which is how codex sends them.
static long Bytes(JsonNode node) => Serialize(node).Length;

static byte[] Serialize(JsonNode? node)
{
    using var buffer = new MemoryStream();
    using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
    {
        if (node is null)
        {
            w.WriteNullValue();
        }
        else
        {
            node.WriteTo(w);
        }
    }
    return buffer.ToArray();
}

static void Breakdown(string title, JsonNode body)
{
    var parts = body.AsObject().Select(p => (p.Key, Size: Serialize(p.Value).Length + Encoding.UTF8.GetByteCount(p.Key) + 4)).OrderByDescending(p => p.Size);
    Console.WriteLine($"    {title}: " + string.Join(", ", parts.Select(p => $"{p.Key} {p.Size}")));
    if (body["tools"] is JsonArray { Count: > 0 } tools)
    {
        Console.WriteLine($"      tools ({tools.Count}): " + string.Join(", ", tools.Select(t => $"{(string?)t?["name"] ?? (string?)t?["type"]} {Serialize(t).Length}")));
    }
    foreach (var field in new[] { "input", "messages", "system" })
    {
        if (body[field] is JsonArray { Count: > 0 } items)
        {
            Console.WriteLine($"      {field} ({items.Count}): " + string.Join(", ", items.Select(m =>
                $"{(string?)m?["role"] ?? (string?)m?["type"] ?? "?"} {Serialize(m).Length}")));
        }
    }
}

static void PrintTable(string[] header, List<string[]> rows)
{
    var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
    string Line(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))) + " |";
    Console.WriteLine(Line(header));
    Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
    foreach (var row in rows)
    {
        Console.WriteLine(Line(row));
    }
}

static string FindBin()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "node", "node_modules", ".bin");
            if (File.Exists(Path.Combine(candidate, "codex")) && File.Exists(Path.Combine(candidate, "claude")))
            {
                return candidate;
            }
        }
    }
    throw new InvalidOperationException("tests/node/node_modules/.bin/{codex,claude} not found; run `bash tests/run` once (it installs them)");
}
