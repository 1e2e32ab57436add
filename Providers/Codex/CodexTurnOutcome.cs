namespace CodexApiServer.Providers.Codex;

/// <summary>Where a Codex turn stands after a notification.</summary>
internal enum CodexTurnOutcome
{
    /// <summary>Still running: more notifications follow.</summary>
    Running,

    /// <summary>Codex ended the turn (turn/completed); the thread is free.</summary>
    Ended,

    /// <summary>
    /// The credential was refused, or the upstream failed past our retry budget: the turn failed, but codex
    /// keeps retrying until it is interrupted.
    /// </summary>
    Refused,
}
