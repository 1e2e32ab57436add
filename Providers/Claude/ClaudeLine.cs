namespace CodexApiServer.Providers.Claude;

/// <summary>What we need from one stdout line of `claude -p --output-format stream-json`.</summary>
public sealed record ClaudeLine(ClaudeLineKind Kind)
{
    public string? Text { get; init; }
    public int? ErrorStatus { get; init; }
    public string? Error { get; init; }
    public bool IsError { get; init; }
    public string? Subtype { get; init; }
    public string? StopReason { get; init; }
    public int NumTurns { get; init; }
    public TokenUsage? Usage { get; init; }
    public string? StructuredOutput { get; init; }
}
