namespace CodexApiServer.Hosting;

public sealed record LogEntry(long Id, DateTimeOffset Time, string Level, string Category, string Message);
