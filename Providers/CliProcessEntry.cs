namespace CodexApiServer.Providers;

/// <summary>One CLI process as its provider sees it.</summary>
/// <param name="Role">"session", "spare", "app-server" or "exec".</param>
/// <param name="Idle">It may be ended to make room: a spare, or a session between turns (it resumes when used again).</param>
/// <param name="StartedAt">Stopwatch timestamp of its start.</param>
public readonly record struct CliProcessEntry(int Pid, string Cli, string Role, bool Idle, DateTimeOffset LastUsed, long StartedAt);
