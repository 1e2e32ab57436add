using System.Security.Cryptography;

namespace CodexApiServer.Providers;

/// <summary>One call of a client tool by the model.</summary>
/// <param name="Id">Ours (<see cref="NewId"/>), unique on this server: the client's follow-up names it, and it finds the held turn.</param>
/// <param name="Name">The tool's name exactly as the client declared it (no CLI prefix).</param>
/// <param name="Arguments">The arguments as the model wrote them: a JSON text, passed through.</param>
public sealed record ToolCall(string Id, string Name, string Arguments)
{
    public static string NewId() => "call_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
}
