namespace CodexApiServer.Endpoints;

/// <summary>A request field that failed validation: the message and the field it names.</summary>
public sealed class InputException(string message, string param, string code = "invalid_value") : Exception(message)
{
    public string Param { get; } = param;
    public string Code { get; } = code;

    public ApiError ToApiError() => new(400, Message, "invalid_request_error", Code, Param);
}
