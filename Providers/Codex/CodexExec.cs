using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// The fallback for a Codex CLI without app-server: one `codex exec --json` process per turn, the
/// prompt on stdin (`-p` is --profile, not the prompt). No token deltas and no continuation: each
/// turn replays the conversation, so no session handle is returned.
/// </summary>
internal sealed partial class CodexExec(ServerSettings settings, ChildProcesses children, CodexProviderOptions options, ILogger logger)
{
    public async Task RunTurnAsync(CodexLaunch codex, TurnRequest request, ChannelWriter<TurnEvent> events, CancellationToken cancellationToken)
    {
        var scratch = CodexScratchDirs.Create(settings.DataDir);
        Process? process = null;
        try
        {
            if (request.ReasoningEffort is { } effort && !ModelName.IsValid(effort))
            {
                events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.InvalidRequest, "invalid reasoning effort")));
                return;
            }
            string? schemaFile = null;
            if (request.OutputSchema is { } schema)
            {
                schemaFile = Path.Combine(scratch, "output-schema.json");
                await File.WriteAllTextAsync(schemaFile, schema.GetRawText(), cancellationToken);
            }
            process = children.Start(codex.File, Arguments(settings.Config, request, scratch, schemaFile), scratch, codex.Environment);
            var stderrTail = new StderrTail();
            var stderr = Task.Run(async () =>
            {
                await stderrTail.DrainAsync(process.StandardError.BaseStream, line => CodexAppServer.LogStderr(logger, process.Id, line));
                return stderrTail.ToString();
            }, CancellationToken.None);

            await process.StandardInput.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(Prompt(request)), cancellationToken);
            process.StandardInput.Close();

            var reader = new Utf8LineReader(process.StandardOutput.BaseStream, options.MaxLineBytes);
            using var kill = cancellationToken.Register(() => children.End(process));
            var finished = false;
            while (!finished && await reader.ReadLineAsync(_ => { }, CancellationToken.None) is { } line)
            {
                foreach (var e in Decode(line.Span))
                {
                    events.TryWrite(e);
                    // After a refused credential codex would retry for seconds; the answer will not change.
                    finished |= e is TurnEnded;
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (!finished)
            {
                await process.WaitForExitAsync(cancellationToken);
                LogExecEnded(logger, process.Id, process.ExitCode, await stderr);
                events.TryWrite(TurnEnded.Failed(new ProviderError(ProviderErrorKind.Crashed,
                    $"codex exec ended without finishing the turn (exit code {process.ExitCode}); the server log has its last output")));
            }
        }
        finally
        {
            if (process is not null)
            {
                children.End(process);
                process.Dispose();
            }
            CodexScratchDirs.Delete(scratch);
        }
    }

    /// <summary>The `codex exec` argv for a turn; the prompt goes on stdin ("-").</summary>
    /// <param name="schemaFile">Where the request's output schema was written, or null.</param>
    public static string[] Arguments(ServerConfig config, TurnRequest request, string scratch, string? schemaFile)
    {
        string[] args = CodexThreadSettings.IsAgentMode(config)
            ? ["exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "-C", config.AgentWorkingDirectory!, "-m", request.Model.CliModel]
            : ["exec", "--json", "--skip-git-repo-check", "-s", "read-only", "-C", scratch, "-m", request.Model.CliModel];
        if (!string.IsNullOrEmpty(request.ReasoningEffort))
        {
            args = [.. args, "-c", $"model_reasoning_effort=\"{request.ReasoningEffort}\""];
        }
        if (schemaFile is not null)
        {
            args = [.. args, "--output-schema", schemaFile];
        }
        return [.. args, "-"];
    }

    /// <summary>The prompt on stdin: the conversation as one text, the instructions first.</summary>
    public static string Prompt(TurnRequest request)
    {
        var prompt = CodexProtocol.FlattenText(request.Messages);
        if (!string.IsNullOrEmpty(request.Instructions))
        {
            prompt = $"[system]: {request.Instructions}\n\n{(request.Messages.Count == 1 ? "[user]: " : "")}{prompt}";
        }
        return prompt;
    }

    /// <summary>The events in one line of `codex exec --json` output; a line that is not JSON has none.</summary>
    public static IReadOnlyList<TurnEvent> Decode(ReadOnlySpan<byte> line)
    {
        JsonElement e;
        try
        {
            var json = new Utf8JsonReader(line);
            e = JsonElement.ParseValue(ref json);
        }
        catch (JsonException)
        {
            return [];
        }
        switch (CodexProtocol.Str(e, "type"))
        {
            case "item.completed":
                {
                    var item = CodexProtocol.Prop(e, "item");
                    var text = CodexProtocol.Str(item, "text");
                    return CodexProtocol.Str(item, "type") switch
                    {
                        "agent_message" when !string.IsNullOrEmpty(text) => [new TextDelta(text)],
                        "reasoning" when !string.IsNullOrEmpty(text) => [new ReasoningDelta(text)],
                        _ => [],
                    };
                }
            case "error":
                // Codex would retry a refused credential for seconds; the answer will not change.
                return CodexProtocol.Str(e, "message") is { } message && message.Contains("401 Unauthorized", StringComparison.Ordinal)
                    ? [TurnEnded.Failed(CodexProtocol.NotAuthenticated(message))]
                    : [];
            case "turn.completed":
                {
                    var usage = CodexProtocol.Prop(e, "usage");
                    return [new TurnEnded(TurnEndReason.Stop, null, new TokenUsage(
                        CodexProtocol.Long(usage, "input_tokens"), CodexProtocol.Long(usage, "output_tokens"),
                        CodexProtocol.Long(usage, "cached_input_tokens"), CodexProtocol.Long(usage, "reasoning_output_tokens")))];
                }
            case "turn.failed":
                {
                    var failure = ErrorText.WithoutAddresses(CodexProtocol.Str(CodexProtocol.Prop(e, "error"), "message") ?? "the Codex turn failed");
                    return [TurnEnded.Failed(failure.Contains("401 Unauthorized", StringComparison.Ordinal) ? CodexProtocol.NotAuthenticated(failure)
                        : CodexProtocol.IsUnknownModel(failure) ? CodexProtocol.UnknownModel(failure)
                        : new ProviderError(ProviderErrorKind.Upstream, "the model upstream failed: " + failure))];
                }
            default:
                return [];
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex exec PID {Pid} ended (exit code {ExitCode}) without finishing the turn; last stderr: {Stderr}")]
    private static partial void LogExecEnded(ILogger logger, int pid, int exitCode, string stderr);
}
