using System.Text.Json.Nodes;

namespace CodexApiServer.Tests.Support;

public static class JsonStrings
{
    /// <summary>Every string in a JSON node, depth first: a prompt or tool result may be a string or a list of content parts.</summary>
    public static IEnumerable<string> In(JsonNode? node) => node switch
    {
        JsonValue value when value.TryGetValue<string>(out var s) => [s],
        JsonArray array => array.SelectMany(In),
        JsonObject obj => obj.SelectMany(p => In(p.Value)),
        _ => [],
    };
}
