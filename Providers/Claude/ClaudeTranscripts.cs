namespace CodexApiServer.Providers.Claude;

/// <summary>The transcripts Claude Code keeps on disk, one per session, so that --resume can continue it.</summary>
internal static partial class ClaudeTranscripts
{
    /// <summary>
    /// Removes the CLI's stored transcript of an ended session (it keeps one per session for --resume),
    /// so a forgotten conversation does not stay on disk. Best effort.
    /// </summary>
    public static void Delete(string sessionId, IReadOnlyDictionary<string, string?>? environment, ILogger logger)
    {
        var home = EnvironmentValue(environment, "HOME") ?? EnvironmentValue(environment, "USERPROFILE");
        var configDir = EnvironmentValue(environment, "CLAUDE_CONFIG_DIR") ?? (home is null ? null : Path.Combine(home, ".claude"));
        var projects = configDir is null ? null : Path.Combine(configDir, "projects");
        if (projects is null || !Directory.Exists(projects))
        {
            return;
        }
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(projects))
            {
                var file = Path.Combine(dir, sessionId + ".jsonl");
                if (File.Exists(file))
                {
                    File.Delete(file);
                    if (!Directory.EnumerateFileSystemEntries(dir).Any())
                    {
                        Directory.Delete(dir);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogTranscriptNotRemoved(logger, sessionId, e.Message);
        }
    }

    private static string? EnvironmentValue(IReadOnlyDictionary<string, string?>? environment, string name) =>
        environment is { } env && env.TryGetValue(name, out var value)
            ? (string.IsNullOrEmpty(value) ? null : value)
            : Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove the transcript of Claude session {SessionId}: {Reason}")]
    private static partial void LogTranscriptNotRemoved(ILogger logger, string sessionId, string reason);
}
