using System.Text.Json;

namespace CodexApiServer.Providers;

// The provider contract: endpoints build a TurnRequest, a provider runs it as TurnEvents
// (ITurnProvider), and TurnRun supervises that run; no endpoint ever sees a process.

/// <param name="Model">The catalog entry; <see cref="ModelEntry.CliModel"/> is what goes to the CLI.</param>
/// <param name="Instructions">System/developer instructions, or null.</param>
/// <param name="Messages">The conversation in order. With a <paramref name="SessionId"/>, only what is new since that session's last turn.</param>
/// <param name="ReasoningEffort">none|minimal|low|medium|high|xhigh|max, or null for the CLI's default.</param>
/// <param name="OutputSchema">A JSON schema the final answer must follow (structured output), or null.</param>
/// <param name="SessionId">A session handle returned by an earlier turn's <see cref="TurnEnded"/>, to continue it.</param>
/// <param name="Tools">The client's tools the model may call (<see cref="ToolCallsRequested"/>); null or empty for none. Part of a session's key.</param>
/// <param name="ToolChoice">The request's tool_choice (null: auto); see <see cref="Providers.ToolChoice.Instruction"/>.</param>
/// <param name="ParallelToolCalls">False: one call per model step.</param>
/// <param name="Resumable">
/// A later request may continue this conversation by id, after a restart too (a stored response's previous_response_id):
/// the CLI's own session must stay on disk to be resumed. Claude always keeps its transcript; Codex keeps a chat thread
/// only then.
/// </param>
public sealed record TurnRequest(
    ModelEntry Model,
    string? Instructions,
    IReadOnlyList<TurnMessage> Messages,
    string? ReasoningEffort = null,
    JsonElement? OutputSchema = null,
    string? SessionId = null,
    IReadOnlyList<ToolDefinition>? Tools = null,
    ToolChoice? ToolChoice = null,
    bool ParallelToolCalls = true,
    bool Resumable = false);
