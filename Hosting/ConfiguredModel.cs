namespace CodexApiServer.Hosting;

public sealed class ConfiguredModel
{
    public string Id { get; set; } = "";
    public string Provider { get; set; } = "codex";
}
