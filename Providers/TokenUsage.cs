namespace CodexApiServer.Providers;

public sealed record TokenUsage(long InputTokens, long OutputTokens, long CachedInputTokens = 0, long ReasoningTokens = 0)
{
    public long TotalTokens => InputTokens + OutputTokens;
}
