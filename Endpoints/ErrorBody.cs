namespace CodexApiServer.Endpoints;

public sealed record ErrorBody(ErrorDetail Error);
