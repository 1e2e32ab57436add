namespace CodexApiServer.Providers.Codex;

/// <summary>A JSON-RPC error answer from the other side.</summary>
internal sealed class JsonRpcException(long code, string message) : Exception(message)
{
    public long Code { get; } = code;
}
