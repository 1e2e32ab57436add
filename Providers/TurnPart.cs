namespace CodexApiServer.Providers;

// A closed set: the base and its cases live together.

/// <summary>One piece of a message's content.</summary>
public abstract record TurnPart;

public sealed record TextPart(string Text) : TurnPart;

/// <param name="Url">An http(s) URL, passed on as it is.</param>
public sealed record ImageUrlPart(string Url) : TurnPart;

/// <param name="MediaType">image/png, image/jpeg, image/gif or image/webp.</param>
public sealed record ImageDataPart(string MediaType, byte[] Data) : TurnPart;

/// <summary>An earlier call of a client tool (in an assistant message of the history).</summary>
public sealed record ToolCallPart(string CallId, string Name, string Arguments) : TurnPart
{
    /// <summary>The call as a line of text, for a CLI that cannot take it as a structured item.</summary>
    public string AsText() => $"[called tool {Name} (call {CallId}) with arguments {Arguments}]";
}

/// <summary>The client's result of an earlier tool call (a tool message of the history).</summary>
public sealed record ToolResultPart(string CallId, string Output, bool IsError = false) : TurnPart
{
    /// <summary>The result as text, for a CLI that cannot take it as a structured item.</summary>
    public string AsText() => (IsError ? $"[tool call {CallId} failed] " : $"[result of tool call {CallId}] ") + Output;
}
