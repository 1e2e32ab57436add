using System.Diagnostics;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Bench;

/// <summary>A `claude -p` stream-json process started ahead of time with the flags ClaudeProvider uses in chat mode.</summary>
public sealed class ClaudePrestarted
{
    private readonly Process _process;
    private readonly string _cwd;

    private ClaudePrestarted(Process process, string cwd)
    {
        _process = process;
        _cwd = cwd;
    }

    public static ClaudePrestarted Start(string claude, string model, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("claude-direct");
        string[] args =
        [
            "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
            "--include-partial-messages", "--model=" + model, "--system-prompt=" + ClaudeArgs.DefaultChatPrompt,
            .. ClaudeArgs.ChatModeFlags, "--session-id", Guid.NewGuid().ToString(),
        ];
        return new ClaudePrestarted(Children.Start(claude, args, cwd, env), cwd);
    }

    /// <summary>One user message; returns (time to the first text_delta, time to the result line). Ends the process.</summary>
    public async Task<(double FirstMs, double TotalMs)> TurnAsync(string prompt)
    {
        try
        {
            var clock = Stopwatch.StartNew();
            var line = new JsonObject
            {
                ["type"] = "user",
                ["message"] = new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = prompt }),
                },
            };
            await _process.StandardInput.WriteAsync(line.ToJsonString() + "\n");
            await _process.StandardInput.FlushAsync();
            double first = -1;
            var seen = new List<string>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            timeout.Token.Register(() => Console.Error.WriteLine($"claude {_process.Id} gave no result in 60 s; stdout: {string.Join(" / ", seen.TakeLast(5))}; stderr: {Children.StderrTail(_process)}"));
            while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } output)
            {
                seen.Add(output.Length > 200 ? output[..200] : output);
                if (first < 0 && output.Contains("\"text_delta\"", StringComparison.Ordinal))
                {
                    first = clock.Elapsed.TotalMilliseconds;
                }
                else if (!output.Contains("\"stream_event\"", StringComparison.Ordinal) && output.Contains("\"result\"", StringComparison.Ordinal)
                    && (string?)JsonNode.Parse(output)?["type"] == "result")
                {
                    return (first, clock.Elapsed.TotalMilliseconds);
                }
            }
            throw new IOException($"claude exited before its result; stderr: {Children.StderrTail(_process)}");
        }
        finally
        {
            Children.End(_process);
            Tests.Support.TempDir.Delete(_cwd);
        }
    }

    public void Abandon()
    {
        Children.End(_process);
        Tests.Support.TempDir.Delete(_cwd);
    }
}

/// <summary>A fresh CLI process per request, as the original product ran them.</summary>
public static class FreshCli
{
    /// <summary>`codex exec --json ... -` with the prompt on stdin: time until the agent_message item.</summary>
    public static async Task<double> CodexExecAsync(string codex, string model, string prompt, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("codex-exec");
        var clock = Stopwatch.StartNew();
        var p = Children.Start(codex, ["exec", "--json", "--skip-git-repo-check", "-s", "read-only", "-C", cwd, "-m", model, "-"], cwd, env);
        try
        {
            await p.StandardInput.WriteAsync(prompt);
            p.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await p.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.Contains("\"item.completed\"", StringComparison.Ordinal) && line.Contains("\"agent_message\"", StringComparison.Ordinal))
                {
                    return clock.Elapsed.TotalMilliseconds;
                }
            }
            throw new IOException("codex exec ended without an agent_message");
        }
        finally
        {
            await WaitOrEndAsync(p);
            Tests.Support.TempDir.Delete(cwd);
        }
    }

    /// <summary>`claude -p "prompt"` in text mode, with its default system prompt and tools: time until stdout says anything.</summary>
    public static async Task<double> ClaudeTextAsync(string claude, string model, string prompt, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("claude-text");
        var clock = Stopwatch.StartNew();
        var p = Children.Start(claude, ["-p", prompt, "--model", model], cwd, env, stdin: false);
        try
        {
            var buffer = new char[1];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var n = await p.StandardOutput.ReadAsync(buffer, timeout.Token);
            return n == 0 ? throw new IOException("claude -p printed nothing") : clock.Elapsed.TotalMilliseconds;
        }
        finally
        {
            await WaitOrEndAsync(p);
            Tests.Support.TempDir.Delete(cwd);
        }
    }

    private static async Task WaitOrEndAsync(Process p)
    {
        // Let it finish on its own (it has answered); end it if it lingers.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await p.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            Children.End(p);
        }
    }
}
