namespace CodexApiServer.Storage;

public sealed record StorageStatus(string State, string Path, int? SchemaVersion, string? JournalMode);
