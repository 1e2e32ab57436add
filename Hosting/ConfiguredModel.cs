using System.Text.Json;
using System.Text.Json.Serialization;

namespace CodexApiServer.Hosting;

public sealed class ConfiguredModel
{
    public string Id { get; set; } = "";
    public string Provider { get; set; } = "codex";
}
