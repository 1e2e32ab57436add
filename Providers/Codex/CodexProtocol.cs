using System.Text;
using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>What the Codex provider writes and reads, apart from the process handling.</summary>
internal static class CodexProtocol
{
    /// <summary>
    /// The user input items for one turn. A single user message goes as it is; several messages
    /// (a replayed history, or a tool result and a question) become one text that keeps the roles
    /// visible, the last message last. Images follow as their own items, then <paramref name="instruction"/>
    /// (the tool_choice line) as a text of its own.
    /// </summary>
    public static void WriteInput(Utf8JsonWriter w, IReadOnlyList<TurnMessage> messages, string? instruction = null)
    {
        w.WritePropertyName("input");
        w.WriteStartArray();
        var text = FlattenText(messages);
        if (text.Length > 0)
        {
            w.WriteStartObject();
            w.WriteString("type", "text");
            w.WriteString("text", text);
            w.WriteEndObject();
        }
        foreach (var message in messages)
        {
            foreach (var part in message.Parts)
            {
                var url = part switch
                {
                    ImageUrlPart u => u.Url,
                    ImageDataPart d => $"data:{d.MediaType};base64,{Convert.ToBase64String(d.Data)}",
                    _ => null,
                };
                if (url is not null)
                {
                    w.WriteStartObject();
                    w.WriteString("type", "image");
                    w.WriteString("url", url);
                    w.WriteEndObject();
                }
            }
        }
        if (instruction is not null)
        {
            w.WriteStartObject();
            w.WriteString("type", "text");
            w.WriteString("text", instruction);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>The text of a message's parts; tool calls and results as lines of text (exec mode cannot take them as items).</summary>
    private static string TextOf(TurnMessage message) => string.Join("\n", message.Parts.Select(p => p switch
    {
        TextPart t => t.Text,
        ToolCallPart c => c.AsText(),
        ToolResultPart r => r.AsText(),
        _ => null,
    }).OfType<string>());

    public static string FlattenText(IReadOnlyList<TurnMessage> messages)
    {
        if (messages.Count == 1 && messages[0].Role == "user")
        {
            return TextOf(messages[0]);
        }
        var sb = new StringBuilder();
        foreach (var message in messages)
        {
            var body = TextOf(message);
            var images = message.Parts.Count(p => p is ImageUrlPart or ImageDataPart);
            if (body.Length == 0 && images == 0)
            {
                continue;
            }
            if (sb.Length > 0)
            {
                sb.Append("\n\n");
            }
            sb.Append('[').Append(message.Role).Append("]: ").Append(body);
            if (images > 0)
            {
                sb.Append(body.Length > 0 ? " " : "").Append(images == 1 ? "(1 image attached)" : $"({images} images attached)");
            }
        }
        return sb.ToString();
    }

    /// <summary>The turn's token counts from a thread/tokenUsage/updated notification (its `last` part).</summary>
    public static TokenUsage? ReadUsage(JsonElement parameters)
    {
        if (!parameters.TryGetProperty("tokenUsage", out var usage) || !usage.TryGetProperty("last", out var last) || last.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        return new TokenUsage(Long(last, "inputTokens"), Long(last, "outputTokens"), Long(last, "cachedInputTokens"), Long(last, "reasoningOutputTokens"));
    }

    public static long Long(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : 0;

    public static string? Str(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static JsonElement Prop(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) ? v : default;

    /// <summary>The upstream HTTP status inside a codexErrorInfo, when codex forwarded one.</summary>
    public static int? HttpStatus(JsonElement info)
    {
        if (info.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        foreach (var variant in info.EnumerateObject())
        {
            if (variant.Value.ValueKind == JsonValueKind.Object
                && variant.Value.TryGetProperty("httpStatusCode", out var status)
                && status.ValueKind == JsonValueKind.Number
                && status.TryGetInt32(out var code))
            {
                return code;
            }
        }
        return null;
    }

    public static bool IsUnauthorized(JsonElement turnError)
    {
        var info = Prop(turnError, "codexErrorInfo");
        return (info.ValueKind == JsonValueKind.String && info.GetString() == "unauthorized") || HttpStatus(info) == 401;
    }

    public static ProviderError NotAuthenticated(string detail) => new(ProviderErrorKind.NotAuthenticated,
        $"Codex is not logged in or its credentials were refused upstream (401): {ErrorText.WithoutAddresses(detail)}", CliProbe.LoginHint("codex"));

    /// <summary>
    /// Whether codex's error says the model is unknown. Codex reports an upstream `model_not_found` as
    /// codexErrorInfo "modelNotFound"; the ChatGPT backend refuses a model with a 400 whose detail says
    /// "The 'X' model is not supported when using Codex with a ChatGPT account.", which codex passes on as text.
    /// </summary>
    public static bool IsUnknownModel(string message) =>
        message.Contains("model is not supported", StringComparison.OrdinalIgnoreCase)
        || (message.Contains("model", StringComparison.OrdinalIgnoreCase) && message.Contains("does not exist", StringComparison.OrdinalIgnoreCase));

    public static ProviderError UnknownModel(string detail) =>
        new(ProviderErrorKind.ModelNotFound, "The model does not exist or you do not have access to it (Codex: " + ErrorText.WithoutAddresses(detail) + ")");

    /// <summary>
    /// Whether the upstream refused the base instructions: the ChatGPT Codex backend has at times accepted only
    /// Codex's own (`400 {"detail":"Instructions are not valid"}`) and refuses none (`Instructions are required`).
    /// </summary>
    public static bool IsInstructionsRefused(ProviderError? error) => error is { Kind: ProviderErrorKind.InvalidRequest } e && IsInstructionsRefused(e.Message);

    public static bool IsInstructionsRefused(string message) => message.Contains("Instructions are not valid", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Instructions are required", StringComparison.OrdinalIgnoreCase);

    /// <summary>The login state in an account/read answer, in words, and whether codex can answer with it.</summary>
    public static (string Login, bool LoggedIn) ReadAccount(JsonElement result)
    {
        var account = Prop(result, "account");
        return Str(account, "type") switch
        {
            "chatgpt" => (Str(account, "planType") is { } plan ? $"logged in with ChatGPT ({plan})" : "logged in with ChatGPT", true),
            "apiKey" => ("logged in with an OpenAI API key", true),
            { } other => ($"logged in ({other})", true),
            // No account, and the model provider needs none from OpenAI: it has its own key (`env_key`).
            null when Prop(result, "requiresOpenaiAuth").ValueKind == JsonValueKind.False => ("API key provider", true),
            null => ("not logged in", false),
        };
    }

    /// <summary>A provider error for a codex TurnError object.</summary>
    public static ProviderError Classify(JsonElement turnError)
    {
        var message = ErrorText.WithoutAddresses(Str(turnError, "message") ?? "the Codex turn failed");
        if (IsUnauthorized(turnError))
        {
            // While codex would still retry, message is its progress ("Reconnecting... 1/5"); the upstream's answer is in the details.
            return NotAuthenticated(Str(turnError, "additionalDetails") is { Length: > 0 } details ? details : message);
        }
        var info = Prop(turnError, "codexErrorInfo");
        var kind = info.ValueKind == JsonValueKind.String ? info.GetString() : null;
        if (kind == "modelNotFound" || IsUnknownModel(message))
        {
            return UnknownModel(message);
        }
        if (kind == "contextWindowExceeded")
        {
            return new ProviderError(ProviderErrorKind.ContextLengthExceeded, "The input is longer than the model's context window: " + message);
        }
        if (IsInstructionsRefused(message))
        {
            // codex 0.169 passes this 400 on as "other", without its status.
            return new ProviderError(ProviderErrorKind.InvalidRequest, "The model upstream refused the instructions (Codex's base instructions replaced by the caller's): " + message);
        }
        if (kind == "usageLimitExceeded")
        {
            // codex 0.169 puts both of the upstream's 429s here: a used-up window ("You've hit your usage
            // limit ... try again at ...") and an account out of quota ("Quota exceeded. Check your plan and billing details.").
            return message.Contains("Quota exceeded", StringComparison.OrdinalIgnoreCase)
                ? new ProviderError(ProviderErrorKind.QuotaExhausted, "The account Codex uses is out of quota: " + message, "Check the plan and billing of that account (codex login status shows which it is).")
                : new ProviderError(ProviderErrorKind.UsageLimit, "A usage window of the Codex subscription is used up: " + message);
        }
        if (kind == "badRequest" || HttpStatus(info) == 400)
        {
            return new ProviderError(ProviderErrorKind.InvalidRequest, "Codex refused the request: " + message);
        }
        // Codex gives up on a turn only after its own retries: the caller's retry at once would repeat them.
        return new ProviderError(ProviderErrorKind.Upstream, $"{UpstreamAnswer(info)} and Codex's retries did not help: {message}") { AlreadyRetried = true };
    }

    /// <summary>What the upstream answered, as far as codex says: its HTTP status, or the class codex put it in.</summary>
    public static string UpstreamAnswer(JsonElement info)
    {
        if (HttpStatus(info) is { } code)
        {
            return $"the model upstream answered {code}";
        }
        return (info.ValueKind == JsonValueKind.String ? info.GetString() : info.ValueKind == JsonValueKind.Object ? info.EnumerateObject().FirstOrDefault().Name : null) switch
        {
            // codex 0.169 reports every 5xx this way, without the number.
            "internalServerError" => "the model upstream answered 5xx (a server error)",
            "responseStreamDisconnected" => "the model upstream answered 5xx (a server error) or dropped the stream",
            "serverOverloaded" => "the model upstream answered 503 (overloaded)",
            "usageLimitExceeded" => "the model upstream answered 429 (usage limit)",
            "responseTooManyFailedAttempts" => "the model upstream kept failing",
            null or "other" => "the model upstream failed",
            { } other => $"the model upstream failed ({other})",
        };
    }

    /// <summary>A turn given up while codex still retries (<see cref="CodexTurnDecoder.MaxRetryNotices"/>): the upstream's words are in the details.</summary>
    public static ProviderError GaveUp(JsonElement turnError)
    {
        var details = Str(turnError, "additionalDetails") is { Length: > 0 } d ? d : Str(turnError, "message") ?? "";
        return new ProviderError(ProviderErrorKind.Upstream,
            $"{UpstreamAnswer(Prop(turnError, "codexErrorInfo"))} and still failed after Codex retried: {ErrorText.WithoutAddresses(details)}") { AlreadyRetried = true };
    }
}
