namespace CodexApiServer.Providers.Claude;

/// <summary>The kinds of stdout line ClaudeProtocol.Parse tells apart; ClaudeProcess drops Other lines.</summary>
public enum ClaudeLineKind
{
    Other,
    TextDelta,
    ThinkingDelta,
    StreamEvent,
    ApiRetry,
    Result,
}
