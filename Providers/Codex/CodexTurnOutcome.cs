namespace CodexApiServer.Providers.Codex;

/// <summary>Where a Codex turn stands after a notification.</summary>
internal enum CodexTurnOutcome
{
    /// <summary>Still running: more notifications follow.</summary>
    Running,

    /// <summary>Codex ended the turn (turn/completed); the thread is free.</summary>
    Ended,

    /// <summary>The credential was refused: the turn failed, but codex keeps retrying until it is interrupted.</summary>
    Refused,
}
