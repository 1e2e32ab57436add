namespace CodexApiServer.Endpoints;

public sealed record ErrorDetail(string Message, string Type, string? Param, string? Code);
