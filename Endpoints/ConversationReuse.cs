using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// Stateless APIs (chat completions, Messages, and Responses without previous_response_id) send the whole
/// conversation each time: one that extends a conversation the server answered continues that live CLI
/// session with only its new messages.
/// </summary>
internal static class ConversationReuse
{
    /// <summary>
    /// What to send for <paramref name="full"/>: the session a conversation up to its last assistant
    /// message left, continued with the messages after it, and the whole as the replay should that
    /// session be gone; or the whole, as a new session, when no session holds it.
    /// </summary>
    public static (TurnRequest Request, TurnRequest? Replay) Continue(ConversationSessions sessions, RoutedModel route, string model, TurnRequest full)
    {
        var conversation = full.Messages;
        var lastAssistant = conversation.ToList().FindLastIndex(m => m.Role == "assistant");
        if (lastAssistant >= 0 && lastAssistant < conversation.Count - 1
            && sessions.Take(TurnInput.ConversationKey(model, full.Instructions, conversation.Take(lastAssistant + 1)), route.Provider) is { } sessionId)
        {
            return (full with { Messages = conversation.Skip(lastAssistant + 1).ToList(), SessionId = sessionId }, full);
        }
        return (full, null);
    }

    /// <summary>Keeps the session that answered <paramref name="full"/> with <paramref name="answer"/>, for the request that extends it.</summary>
    public static void Remember(ConversationSessions sessions, RoutedModel route, string model, TurnRequest full, string answer, string sessionId) =>
        sessions.Put(TurnInput.ConversationKey(model, full.Instructions, full.Messages.Append(new TurnMessage("assistant", [new TextPart(answer)]))), route.Provider, sessionId);
}
