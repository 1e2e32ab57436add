using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CodexApiServer.Providers;

/// <summary>A tool of the client's that the model may call; calling it only asks the client (nothing runs on the server).</summary>
/// <param name="Name">As the client declared it (checked: letters, digits, '_' and '-', at most 64).</param>
/// <param name="Parameters">The JSON schema of its arguments, always an object schema.</param>
public sealed record ToolDefinition(string Name, string? Description, JsonElement Parameters)
{
    /// <summary>
    /// A digest of a tool set, for keys: conversations with different tools never share a warm thread
    /// or process. Null for no tools.
    /// </summary>
    public static string? Digest(IReadOnlyList<ToolDefinition>? tools)
    {
        if (tools is not { Count: > 0 })
        {
            return null;
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var tool in tools)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(tool.Name));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(tool.Description ?? ""));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(tool.Parameters.GetRawText()));
            hash.AppendData([1]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }
}
