using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// One wire format of a turn (chat chunks, Responses events). It folds the turn's events into the
/// wire's result object either way, and writes events only once it has been given a stream: the
/// non-streaming form is the same encoder, never opened. <see cref="TurnDriver"/> calls it.
/// </summary>
public interface ITurnEncoder
{
    /// <summary>The stream has started (status and headers committed): write the events that open it.</summary>
    Task OpenAsync(SseResponse stream);

    Task TextAsync(string text);

    Task ReasoningAsync(string text);

    /// <summary>The CLI's token counts so far (the last on the end is what counts); most wires wait for the end.</summary>
    Task UsageAsync(TokenUsage usage) => Task.CompletedTask;

    /// <summary>The model called the client's tools: the calls of one step, all together. The end (ToolCalls) follows.</summary>
    Task ToolCallsAsync(IReadOnlyList<ToolCall> calls);

    /// <summary>The turn's end: fold it into the result and write the events that close the stream.</summary>
    /// <param name="error">What a failed turn tells the caller, mapped once by the driver.</param>
    Task EndAsync(TurnEnded end, ApiError? error);
}
