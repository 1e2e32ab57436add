using System.Text;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// One turn's events, decoded from its parsed stdout lines (<see cref="ClaudeProtocol.Parse"/>). Pure:
/// it starts, writes and logs nothing; ClaudeProvider feeds it the lines and acts on what comes back
/// (a failed <see cref="TurnEnded"/> ends the process, any other returns it to its session).
/// </summary>
public sealed class ClaudeTurnDecoder
{
    private static readonly string LoginHint = CliProbe.LoginHint("claude");
    private static readonly TurnEvent[] Activity = [CliActivity.Instance];

    private readonly string _sessionId;
    private readonly bool _firstTurnOfResume;
    private readonly StringBuilder? _heldText;
    private bool _sawModelOutput;
    private bool _textSent;

    /// <param name="sessionId">The Claude session the turn runs in, reported with <see cref="TurnEnded"/>.</param>
    /// <param name="firstTurnOfResume">
    /// The process was started with --resume and has run no turn yet: a failure before any output then
    /// means the session cannot be resumed.
    /// </param>
    /// <param name="structured">
    /// The request has an output schema: the answer is the StructuredOutput tool's input, reported in
    /// the result; text the model writes around the tool call would corrupt the JSON, so it is held back.
    /// </param>
    public ClaudeTurnDecoder(string sessionId, bool firstTurnOfResume, bool structured)
    {
        _sessionId = sessionId;
        _firstTurnOfResume = firstTurnOfResume;
        _heldText = structured ? new StringBuilder() : null;
    }

    /// <summary>
    /// The events for one line, in order; when the line ends the turn the last one is its
    /// <see cref="TurnEnded"/>, with the usage claude reported. A line that is no output of the model
    /// is still the upstream answering: <see cref="CliActivity"/>.
    /// </summary>
    public IReadOnlyList<TurnEvent> Decode(ClaudeLine line)
    {
        switch (line.Kind)
        {
            case ClaudeLineKind.TextDelta when line.Text is { Length: > 0 } && _heldText is not null:
                _sawModelOutput = true;
                _heldText.Append(line.Text);
                return [];
            case ClaudeLineKind.TextDelta when line.Text is { Length: > 0 }:
                _sawModelOutput = _textSent = true;
                return [new TextDelta(line.Text)];
            case ClaudeLineKind.ThinkingDelta when line.Text is { Length: > 0 }:
                _sawModelOutput = true;
                return [new ReasoningDelta(line.Text)];
            case ClaudeLineKind.ApiRetry when line.ErrorStatus == 401 || line.Error == "authentication_failed":
                // Retrying a bad login only delays the answer the operator needs.
                return [TurnEnded.Failed(new ProviderError(ProviderErrorKind.NotAuthenticated, "Claude Code is not logged in (the model API answered 401)", LoginHint))];
            case ClaudeLineKind.Result when line.IsError:
                return [TurnEnded.Failed(ResultError(line))];
            case ClaudeLineKind.Result:
                return Completed(line);
            default:
                return Activity;
        }
    }

    /// <summary>Why the turn failed when stdout ended before its result line.</summary>
    public ProviderError EndedEarly() => _firstTurnOfResume && !_sawModelOutput
        ? CannotResume()
        : new ProviderError(ProviderErrorKind.Crashed, "claude exited in the middle of the turn; the server log has its last output");

    private List<TurnEvent> Completed(ClaudeLine line)
    {
        var events = new List<TurnEvent>(3);
        if (line.StructuredOutput is not null && !_textSent)
        {
            events.Add(new TextDelta(line.StructuredOutput));
        }
        else if (_heldText is { Length: > 0 })
        {
            events.Add(new TextDelta(_heldText.ToString()));
        }
        events.Add(new TurnEnded(line.StopReason == "max_tokens" ? TurnEndReason.Length : TurnEndReason.Stop, _sessionId, line.Usage));
        return events;
    }

    private ProviderError ResultError(ClaudeLine line)
    {
        var message = string.IsNullOrWhiteSpace(line.Text) ? $"Claude Code failed ({line.Subtype})" : ErrorText.WithoutAddresses(line.Text!);
        if (_firstTurnOfResume && !_sawModelOutput && line.NumTurns == 0 && line.Subtype == "error_during_execution")
        {
            return CannotResume();
        }
        // With no credentials at all the CLI does not call upstream; it ends the turn with
        // "Not logged in · Please run /login" and no status.
        if (line.ErrorStatus is null && (message.Contains("/login", StringComparison.OrdinalIgnoreCase)
            || message.Contains("not logged in", StringComparison.OrdinalIgnoreCase)
            || message.Contains("Invalid API key", StringComparison.OrdinalIgnoreCase)))
        {
            return new ProviderError(ProviderErrorKind.NotAuthenticated, message, LoginHint);
        }
        return line.ErrorStatus switch
        {
            401 => new ProviderError(ProviderErrorKind.NotAuthenticated, message, LoginHint),
            // Anthropic's "prompt is too long: N tokens > M maximum", which Claude Code rewords as "Prompt is too long · ...".
            400 or 413 when message.Contains("prompt is too long", StringComparison.OrdinalIgnoreCase) => new ProviderError(ProviderErrorKind.ContextLengthExceeded, message),
            400 or 413 => new ProviderError(ProviderErrorKind.InvalidRequest, message),
            _ => new ProviderError(ProviderErrorKind.Upstream, message),
        };
    }

    private ProviderError CannotResume() =>
        new(ProviderErrorKind.SessionNotFound, $"Claude session {_sessionId} cannot be resumed");
}
