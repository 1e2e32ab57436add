using System.Text;

namespace CodexApiServer.Providers.Claude;

/// <summary>
/// One turn's events, decoded from its parsed stdout lines (<see cref="ClaudeProtocol.Parse"/>). Pure:
/// it starts, writes and logs nothing; ClaudeProvider feeds it the lines and acts on what comes back
/// (a failed <see cref="TurnEnded"/> ends the process, any other returns it to its session), and
/// writes the answers to claude's tools/call requests it makes ready (<see cref="TakeReplies"/>).
/// </summary>
/// <remarks>
/// Client tool calls, as claude 2.1.331 makes them: the tool_use blocks of one model message stream in
/// (content_block_start, input_json_delta), and claude sends the tools/call of a block as soon as that
/// block is complete, often before the message is (before message_stop), then the next block's call
/// only once the previous one was answered: one after another (it sends them together only for tools
/// annotated readOnlyHint, which ours are not; either way works here). So the calls of a step
/// are gathered until message_stop and asked of the client as one <see cref="ToolCallsRequested"/>;
/// a tools/call that comes first waits, and each is answered from the client's results when both are
/// there, matched by the tool_use id claude passes in params._meta["claudecode/toolUseId"] (by name, in
/// order, when it does not).
/// </remarks>
public sealed class ClaudeTurnDecoder
{
    private static readonly string LoginHint = CliProbe.LoginHint("claude");
    private static readonly TurnEvent[] Activity = [CliActivity.Instance];

    // Tool_use blocks of the model message streaming now, by content block index.
    private readonly SortedDictionary<int, (string ToolUseId, string Name, StringBuilder Arguments)> _streaming = [];
    // Calls of the model message streaming now that came whole (assistant lines without stream events).
    private readonly List<AskedCall> _step = [];
    private readonly HashSet<string> _seenToolUses = new(StringComparer.Ordinal);
    private readonly List<AskedCall> _asked = [];
    private readonly List<ClaudeLine> _waiting = [];
    private readonly List<byte[]> _replies = [];

    private readonly string _sessionId;
    private readonly bool _firstTurnOfResume;
    private readonly StringBuilder? _heldText;
    private bool _sawModelOutput;
    private bool _textSent;
    private ClaudeRateLimit? _rateLimit;

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
            case ClaudeLineKind.ToolUseStart when line.Name is { } name && name.StartsWith(ClaudeArgs.ToolPrefix, StringComparison.Ordinal) && _seenToolUses.Add(line.Id!):
                _sawModelOutput = true;
                _streaming[line.Index] = (line.Id!, name[ClaudeArgs.ToolPrefix.Length..], new StringBuilder());
                return Activity;
            case ClaudeLineKind.ToolInputDelta when _streaming.TryGetValue(line.Index, out var use):
                use.Arguments.Append(line.Text);
                return Activity;
            case ClaudeLineKind.AssistantToolUse:
                foreach (var whole in line.ToolUses!)
                {
                    if (whole.Name.StartsWith(ClaudeArgs.ToolPrefix, StringComparison.Ordinal) && _seenToolUses.Add(whole.Id))
                    {
                        _sawModelOutput = true;
                        _step.Add(new AskedCall(whole.Id, new ToolCall(ToolCall.NewId(), whole.Name[ClaudeArgs.ToolPrefix.Length..], whole.Input)));
                    }
                }
                return Activity;
            case ClaudeLineKind.MessageStop:
                return StepEnded();
            case ClaudeLineKind.StreamEvent when line.Usage is { } started:
                // An upstream response began: its prompt size, before any output (the result's usage comes at the end).
                return [CliActivity.Instance, new UsageReport(started)];
            case ClaudeLineKind.RateLimit:
                _rateLimit = line.RateLimit;
                return Activity;
            case ClaudeLineKind.ToolCallRequest:
                _waiting.Add(line);
                AnswerWaiting(final: false);
                return Activity;
            default:
                return Activity;
        }
    }

    /// <summary>Gives the client's results for <paramref name="request"/>; the tools/call answers they make ready come from <see cref="TakeReplies"/>.</summary>
    public void Answer(ToolCallsRequested request, IReadOnlyList<ToolResult> results)
    {
        foreach (var asked in _asked)
        {
            if (asked.Result is null && request.Calls.Contains(asked.Call))
            {
                asked.Result = ToolCallsRequested.ResultFor(asked.Call, results);
            }
        }
        // Every tools/call of this step that came already is for it: one that matches none gets a failure, not silence.
        AnswerWaiting(final: true);
    }

    /// <summary>The stdin lines that answer claude's tools/call requests, made ready since the last call.</summary>
    public IReadOnlyList<byte[]> TakeReplies()
    {
        if (_replies.Count == 0)
        {
            return [];
        }
        var replies = _replies.ToArray();
        _replies.Clear();
        return replies;
    }

    private TurnEvent[] StepEnded()
    {
        foreach (var (_, (toolUseId, name, arguments)) in _streaming)
        {
            _step.Add(new AskedCall(toolUseId, new ToolCall(ToolCall.NewId(), name, arguments.Length == 0 ? "{}" : arguments.ToString())));
        }
        _streaming.Clear();
        if (_step.Count == 0)
        {
            return Activity;
        }
        _asked.AddRange(_step);
        var request = new ToolCallsRequested([.. _step.Select(a => a.Call)]);
        _step.Clear();
        return [request];
    }

    private void AnswerWaiting(bool final)
    {
        for (var i = 0; i < _waiting.Count; i++)
        {
            var call = _waiting[i];
            var asked = call.Server == ClaudeArgs.ToolServer
                ? call.Id is { } toolUseId
                    ? _asked.Find(a => !a.Claimed && a.ToolUseId == toolUseId)
                    : _asked.Find(a => !a.Claimed && a.Call.Name == call.Name)
                : null;
            if (asked?.Result is { } result)
            {
                asked.Claimed = true;
                _replies.Add(ClaudeToolServer.CallResult(call, result.Output, result.IsError));
            }
            else if (final && asked is null)
            {
                _replies.Add(ClaudeToolServer.CallResult(call, $"No call of {call.Name} is waiting for a result.", isError: true));
            }
            else
            {
                continue;
            }
            _waiting.RemoveAt(i--);
        }
    }

    /// <summary>A call asked of the client: claude's tool_use id for it, and the client's result once given.</summary>
    private sealed class AskedCall(string toolUseId, ToolCall call)
    {
        public string ToolUseId { get; } = toolUseId;
        public ToolCall Call { get; } = call;
        public ToolResult? Result { get; set; }
        public bool Claimed { get; set; }
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
        if (IsSubscriptionRefusal(line.ErrorStatus, message))
        {
            return new ProviderError(ProviderErrorKind.SubscriptionRefused, message, SubscriptionHint);
        }
        if (IsOutOfCredit(message))
        {
            return new ProviderError(ProviderErrorKind.QuotaExhausted, message, "Add credit to the Anthropic account Claude Code uses, or log it in with a subscription (claude, then /login).");
        }
        return line.ErrorStatus switch
        {
            // A subscription window refused the turn (claude wrote its rate_limit_event first); else a plain
            // API rate limit, which claude already retried.
            429 when _rateLimit is { Rejected: true, ResetsAt: { } resets } =>
                new ProviderError(ProviderErrorKind.UsageLimit, message, RetryAfter: TimeSpan.FromSeconds(Math.Max(1, resets - DateTimeOffset.UtcNow.ToUnixTimeSeconds()))),
            429 => new ProviderError(ProviderErrorKind.UsageLimit, message),
            401 => new ProviderError(ProviderErrorKind.NotAuthenticated, message, LoginHint),
            // Anthropic's "prompt is too long: N tokens > M maximum", which Claude Code rewords as "Prompt is too long · ...".
            400 or 413 when message.Contains("prompt is too long", StringComparison.OrdinalIgnoreCase) => new ProviderError(ProviderErrorKind.ContextLengthExceeded, message),
            400 or 413 => new ProviderError(ProviderErrorKind.InvalidRequest, message),
            _ => new ProviderError(ProviderErrorKind.Upstream, message),
        };
    }

    /// <summary>What claudeSystemPrompt can do about a <see cref="ProviderErrorKind.SubscriptionRefused"/>; ClaudeProvider names the current setting.</summary>
    public const string SubscriptionHint =
        "Reports tie this to the system prompt a client sends: with claudeSystemPrompt \"append\" in config.json Claude Code keeps its own system prompt and the request's instructions are appended to it; \"replace\" (the default) sends only the request's instructions. See the README, \"Using a subscription\".";

    /// <summary>
    /// Anthropic's 400 for third-party use of a subscription, as users report it: "Third-party apps now
    /// draw from your extra usage, not your plan limits. ..." (or "... from extra usage, not plan limits.
    /// Ask your workspace admin ..."); claude 2.1.331 ends the turn with a result of is_error,
    /// api_error_status 400 and "API Error: 400 " before the upstream's message.
    /// </summary>
    public static bool IsSubscriptionRefusal(int? status, string message) =>
        status is 400 or 403 or null
        && message.Contains("extra usage", StringComparison.OrdinalIgnoreCase)
        && (message.Contains("third-party", StringComparison.OrdinalIgnoreCase) || message.Contains("third party", StringComparison.OrdinalIgnoreCase));

    /// <summary>Anthropic's 400 for an API key whose account has no credit left: "Your credit balance is too low to access the Anthropic API. ...".</summary>
    public static bool IsOutOfCredit(string message) => message.Contains("credit balance is too low", StringComparison.OrdinalIgnoreCase);

    private ProviderError CannotResume() =>
        new(ProviderErrorKind.SessionNotFound, $"Claude session {_sessionId} cannot be resumed");
}
