namespace CodexApiServer.Tunnel;

/// <summary>Why a start request was refused; <c>Code</c> is the OpenAI error code.</summary>
public sealed record TunnelStartFailure(int StatusCode, string Code, string Message);
