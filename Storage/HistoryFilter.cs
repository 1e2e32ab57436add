namespace CodexApiServer.Storage;

/// <summary>What the console's history is narrowed to; null: any. <see cref="ApiKeyId"/> "none": made without a key.</summary>
public sealed record HistoryFilter(string? Object, string? Model, string? ApiKeyId, string? Status, string? Text);
