using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace CodexApiServer.Providers.Codex;

// The fallback for a Codex CLI without app-server: one `codex exec --json` process per turn, the
// prompt on stdin (`-p` is --profile, not the prompt). No token deltas and no continuation: each
// turn replays the conversation, so no session handle is returned.
public sealed partial class CodexProvider
{
    private async Task RunExecTurnAsync(string path, TurnRequest request, ChannelWriter<TurnEvent> events, CancellationToken cancellationToken)
    {
        var scratch = NewScratchDir();
        Process? process = null;
        try
        {
            if (request.ReasoningEffort is { } effort && !ModelNameLike(effort))
            {
                events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.InvalidRequest, "invalid reasoning effort")));
                return;
            }
            string[] args = AgentMode
                ? ["exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "-C", _settings.Config.AgentWorkingDirectory!, "-m", request.Model.CliModel]
                : ["exec", "--json", "--skip-git-repo-check", "-s", "read-only", "-C", scratch, "-m", request.Model.CliModel];
            if (!string.IsNullOrEmpty(request.ReasoningEffort))
            {
                args = [.. args, "-c", $"model_reasoning_effort=\"{request.ReasoningEffort}\""];
            }
            string? schemaFile = null;
            if (request.OutputSchema is { } schema)
            {
                schemaFile = Path.Combine(scratch, "output-schema.json");
                await File.WriteAllTextAsync(schemaFile, schema.GetRawText(), cancellationToken);
                args = [.. args, "--output-schema", schemaFile];
            }
            args = [.. args, "-"];
            process = _children.Start(path, args, scratch, _options.Environment);
            var stderrTail = new StderrTail();
            var stderr = Task.Run(async () =>
            {
                await stderrTail.DrainAsync(process.StandardError.BaseStream, line => LogStderr(_logger, process.Id, line));
                return stderrTail.ToString();
            }, CancellationToken.None);

            var prompt = CodexProtocol.FlattenText(request.Messages);
            if (!string.IsNullOrEmpty(request.Instructions))
            {
                prompt = $"[system]: {request.Instructions}\n\n{(request.Messages.Count == 1 ? "[user]: " : "")}{prompt}";
            }
            await process.StandardInput.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(prompt), cancellationToken);
            process.StandardInput.Close();

            var reader = new Utf8LineReader(process.StandardOutput.BaseStream, _options.MaxLineBytes);
            using var kill = cancellationToken.Register(() => _children.End(process));
            var finished = false;
            while (!finished && await reader.ReadLineAsync(_ => { }, CancellationToken.None) is { } line)
            {
                JsonElement e;
                try
                {
                    var json = new Utf8JsonReader(line.Span);
                    e = JsonElement.ParseValue(ref json);
                }
                catch (JsonException)
                {
                    continue;
                }
                switch (CodexProtocol.Str(e, "type"))
                {
                    case "item.completed":
                        {
                            var item = CodexProtocol.Prop(e, "item");
                            var text = CodexProtocol.Str(item, "text");
                            switch (CodexProtocol.Str(item, "type"))
                            {
                                case "agent_message" when !string.IsNullOrEmpty(text):
                                    events.TryWrite(new TextDelta(text));
                                    break;
                                case "reasoning" when !string.IsNullOrEmpty(text):
                                    events.TryWrite(new ReasoningDelta(text));
                                    break;
                            }
                            break;
                        }
                    case "error":
                        if (CodexProtocol.Str(e, "message") is { } message && message.Contains("401 Unauthorized", StringComparison.Ordinal))
                        {
                            // Codex would retry a refused credential for seconds; the answer will not change.
                            _children.End(process);
                            events.TryWrite(new TurnFailed(CodexProtocol.NotAuthenticated(message)));
                            finished = true;
                        }
                        break;
                    case "turn.completed":
                        {
                            var usage = CodexProtocol.Prop(e, "usage");
                            events.TryWrite(new UsageReport(new TokenUsage(
                                CodexProtocol.Long(usage, "input_tokens"), CodexProtocol.Long(usage, "output_tokens"),
                                CodexProtocol.Long(usage, "cached_input_tokens"), CodexProtocol.Long(usage, "reasoning_output_tokens"))));
                            events.TryWrite(new TurnCompleted("stop", null));
                            finished = true;
                            break;
                        }
                    case "turn.failed":
                        {
                            var failure = ErrorText.WithoutAddresses(CodexProtocol.Str(CodexProtocol.Prop(e, "error"), "message") ?? "the Codex turn failed");
                            events.TryWrite(new TurnFailed(failure.Contains("401 Unauthorized", StringComparison.Ordinal) ? CodexProtocol.NotAuthenticated(failure)
                                : CodexProtocol.IsUnknownModel(failure) ? CodexProtocol.UnknownModel(failure)
                                : new ProviderError(ProviderErrorKind.Upstream, "the model upstream failed: " + failure)));
                            finished = true;
                            break;
                        }
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (!finished)
            {
                await process.WaitForExitAsync(cancellationToken);
                LogExecEnded(_logger, process.Id, process.ExitCode, await stderr);
                events.TryWrite(new TurnFailed(new ProviderError(ProviderErrorKind.Crashed,
                    $"codex exec ended without finishing the turn (exit code {process.ExitCode}); the server log has its last output")));
            }
        }
        finally
        {
            if (process is not null)
            {
                _children.End(process);
                process.Dispose();
            }
            DeleteDir(scratch);
        }
    }

    private static bool ModelNameLike(string value) => Hosting.ModelName.IsValid(value);

    [LoggerMessage(Level = LogLevel.Warning, Message = "codex exec PID {Pid} ended (exit code {ExitCode}) without finishing the turn; last stderr: {Stderr}")]
    private static partial void LogExecEnded(ILogger logger, int pid, int exitCode, string stderr);
}
