using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CodexApiServer.Tests.Support;

/// <summary>What a writer of JSON properties (the providers' protocol builders) writes, as one object to assert on.</summary>
public static class WrittenJson
{
    public static JsonNode Of(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }
        return JsonNode.Parse(buffer.WrittenSpan)!;
    }
}
