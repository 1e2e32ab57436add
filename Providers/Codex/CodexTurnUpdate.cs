namespace CodexApiServer.Providers.Codex;

/// <summary>What one app-server notification means for the turn it belongs to.</summary>
/// <param name="Events">For the caller, in order; a TurnEnded comes last.</param>
/// <param name="Error">The message of an `error` notification (codex's retry notices included), for the log.</param>
/// <param name="WillRetry">Whether codex said it retries after that error.</param>
internal sealed record CodexTurnUpdate(
    IReadOnlyList<TurnEvent> Events,
    CodexTurnOutcome Outcome = CodexTurnOutcome.Running,
    string? Error = null,
    bool WillRetry = false)
{
    public static readonly CodexTurnUpdate None = new([]);

    public static readonly CodexTurnUpdate Activity = new([CliActivity.Instance]);
}
