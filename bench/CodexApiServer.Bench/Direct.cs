using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Claude;

namespace CodexApiServer.Bench;

/// <summary>A `claude -p` stream-json process started ahead of time as ClaudeProvider starts one in chat mode (ClaudeArgs, ClaudeProtocol).</summary>
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
        var key = ClaudeArgs.KeyOf(new TurnRequest(new ModelEntry(model, ProviderKind.Claude, 0, model), null, []), agentMode: false);
        var args = ClaudeArgs.Build(key, Guid.NewGuid().ToString(), resume: false, agentMode: false, systemPromptFile: null);
        return new ClaudePrestarted(Children.Start(claude, args, cwd, env), cwd);
    }

    /// <summary>
    /// The spare's warm-up ClaudeProcess.WarmUp sends: a prompt of one space, which claude answers itself
    /// (nothing goes upstream). Returns once its result line is read.
    /// </summary>
    public async Task WarmUpAsync()
    {
        await _process.StandardInput.BaseStream.WriteAsync(ClaudeProcess.BlankPrompt);
        await _process.StandardInput.BaseStream.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } output)
        {
            if (IsResult(output))
            {
                return;
            }
        }
        throw new IOException($"claude exited during its warm-up; stderr: {Children.StderrTail(_process)}");
    }

    /// <summary>
    /// One user message (with <paramref name="uuid"/> as its id, as ClaudeProvider gives one); returns (time to
    /// the first text_delta, time to the result line). Ends the process unless <paramref name="keep"/>.
    /// </summary>
    public async Task<(double FirstMs, double TotalMs)> TurnAsync(string prompt, bool keep = false, string? uuid = null)
    {
        var ended = true;
        try
        {
            var clock = Stopwatch.StartNew();
            await _process.StandardInput.BaseStream.WriteAsync(ClaudeProtocol.UserLine([TurnMessage.User(prompt)], uuid: uuid));
            await _process.StandardInput.BaseStream.FlushAsync();
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
                else if (IsResult(output))
                {
                    ended = !keep;
                    return (first, clock.Elapsed.TotalMilliseconds);
                }
            }
            throw new IOException($"claude exited before its result; stderr: {Children.StderrTail(_process)}");
        }
        finally
        {
            if (ended)
            {
                Abandon();
            }
        }
    }

    /// <summary>
    /// What the server does before a finished one-off conversation's process serves a new one: rewinds the
    /// conversation (one user message, <paramref name="uuid"/>) to nothing. Returns once claude has answered.
    /// </summary>
    public async Task RewindAsync(string uuid)
    {
        await _process.StandardInput.BaseStream.WriteAsync(ClaudeProtocol.RewindLine("rewind_bench", uuid, uuid));
        await _process.StandardInput.BaseStream.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await _process.StandardOutput.ReadLineAsync(timeout.Token) is { } output)
        {
            if (output.Contains("\"control_response\"", StringComparison.Ordinal))
            {
                if (!output.Contains("\"rewound\":true", StringComparison.Ordinal))
                {
                    throw new IOException("claude did not rewind: " + output);
                }
                return;
            }
        }
        throw new IOException($"claude exited during the rewind; stderr: {Children.StderrTail(_process)}");
    }

    public void Abandon()
    {
        Children.End(_process);
        Tests.Support.TempDir.Delete(_cwd);
    }

    /// <summary>claude's result line, the end of a turn (a stream event only mentions "result").</summary>
    private static bool IsResult(string output) =>
        !output.Contains("\"stream_event\"", StringComparison.Ordinal) && output.Contains("\"result\"", StringComparison.Ordinal)
        && (string?)JsonNode.Parse(output)?["type"] == "result";
}

/// <summary>
/// A `claude -p` stream-json process started ahead of time as ClaudeProvider starts one for a request with
/// client tools: the argv from ClaudeArgs.Build, our sdk MCP server answered from the start (claude
/// connects to it before any user message) with ClaudeToolServer's own answers.
/// </summary>
public sealed class ClaudeToolPrestarted
{
    private readonly Process _process;
    private readonly string _cwd;
    private readonly TurnRequest _request;
    private readonly Channel<ClaudeLine> _lines = Channel.CreateUnbounded<ClaudeLine>();
    private readonly SemaphoreSlim _stdin = new(1, 1);

    private ClaudeToolPrestarted(Process process, string cwd, TurnRequest request)
    {
        _process = process;
        _cwd = cwd;
        _request = request;
        _ = Task.Run(ReadAsync);
    }

    public static ClaudeToolPrestarted Start(string claude, TurnRequest request, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("claude-tools-direct");
        var args = ClaudeArgs.Build(ClaudeArgs.KeyOf(request, agentMode: false), Guid.NewGuid().ToString(), resume: false, agentMode: false, systemPromptFile: null);
        return new ClaudeToolPrestarted(Children.Start(claude, args, cwd, env), cwd, request);
    }

    /// <summary>
    /// Sends the request's user message (ClaudeProtocol.UserLine, as the provider sends it), waits for
    /// claude's tools/call, then <paramref name="toolTime"/> as the client's tool would, and answers it
    /// (ClaudeToolServer.CallResult). Returns the time from that answer to the first text_delta after it.
    /// Ends the process.
    /// </summary>
    public async Task<double> ToolRoundTripAsync(string output, TimeSpan toolTime)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await WriteAsync(ClaudeProtocol.UserLine(_request.Messages, ToolChoice.Instruction(_request)));
            ClaudeLine call;
            while ((call = await _lines.Reader.ReadAsync(timeout.Token)).Kind != ClaudeLineKind.ToolCallRequest)
            {
                if (call.Kind == ClaudeLineKind.Result)
                {
                    throw new InvalidOperationException("claude ended the turn without calling the tool: " + call.Text);
                }
            }
            await Task.Delay(toolTime);
            var clock = Stopwatch.StartNew();
            await WriteAsync(ClaudeToolServer.CallResult(call, output, isError: false));
            double first = -1;
            while (await _lines.Reader.ReadAsync(timeout.Token) is { } line)
            {
                if (first < 0 && line.Kind == ClaudeLineKind.TextDelta && line.Text is { Length: > 0 })
                {
                    first = clock.Elapsed.TotalMilliseconds;
                }
                else if (line.Kind == ClaudeLineKind.Result)
                {
                    return first >= 0 && !line.IsError ? first : throw new InvalidOperationException($"claude's turn after the tool result: {line.Text}");
                }
            }
            throw new IOException("unreachable");
        }
        catch (ChannelClosedException)
        {
            throw new IOException($"claude exited before its result; stderr: {Children.StderrTail(_process)}");
        }
        finally
        {
            Abandon();
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } text)
            {
                if (ClaudeProtocol.Parse(Encoding.UTF8.GetBytes(text)) is not { } line)
                {
                    continue;
                }
                if (line.Kind is ClaudeLineKind.McpRequest or ClaudeLineKind.ControlRequest)
                {
                    // initialize, notifications/initialized, tools/list: answered here, as ClaudeProcess answers them.
                    await WriteAsync(ClaudeToolServer.Answer(line, _request.Tools!));
                }
                else
                {
                    _lines.Writer.TryWrite(line);
                }
            }
        }
        catch (Exception)
        {
        }
        _lines.Writer.TryComplete();
    }

    private async Task WriteAsync(byte[] line)
    {
        await _stdin.WaitAsync();
        try
        {
            await _process.StandardInput.BaseStream.WriteAsync(line);
            await _process.StandardInput.BaseStream.FlushAsync();
        }
        finally
        {
            _stdin.Release();
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
    public static async Task<double> CodexExecAsync(string codex, string model, string prompt, IReadOnlyDictionary<string, string?> env) =>
        (await CodexExecTimedAsync(codex, model, prompt, env)).FirstMs;

    /// <summary>`codex exec --json ... -`: time until the agent_message item (its first text), and until turn.completed.</summary>
    public static async Task<(double FirstMs, double TotalMs)> CodexExecTimedAsync(string codex, string model, string prompt, IReadOnlyDictionary<string, string?> env)
    {
        var cwd = Tests.Support.TempDir.Create("codex-exec");
        var clock = Stopwatch.StartNew();
        var p = Children.Start(codex, ["exec", "--json", "--skip-git-repo-check", "-s", "read-only", "-C", cwd, "-m", model, "-"], cwd, env);
        try
        {
            await p.StandardInput.WriteAsync(prompt);
            p.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            double first = -1;
            while (await p.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (first < 0 && line.Contains("\"item.completed\"", StringComparison.Ordinal) && line.Contains("\"agent_message\"", StringComparison.Ordinal))
                {
                    first = clock.Elapsed.TotalMilliseconds;
                }
                else if (line.Contains("\"turn.completed\"", StringComparison.Ordinal) && first >= 0)
                {
                    return (first, clock.Elapsed.TotalMilliseconds);
                }
            }
            throw new IOException("codex exec ended without an agent_message and turn.completed");
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
