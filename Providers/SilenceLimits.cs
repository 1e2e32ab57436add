namespace CodexApiServer.Providers;

/// <param name="FirstOutput">Longest wait for the CLI's first sign of life in a turn.</param>
/// <param name="Idle">Longest silence between two signs of life after that.</param>
public readonly record struct SilenceLimits(TimeSpan FirstOutput, TimeSpan Idle);
