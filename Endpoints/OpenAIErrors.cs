using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>The one place every error body is made: the OpenAI shape, all four keys present (Anthropic's for the Messages routes, see <see cref="AnthropicErrors"/>).</summary>
public static class OpenAIErrors
{
    public static JsonHttpResult<ErrorBody> Result(int status, string message, string type, string? code, string? param = null) =>
        TypedResults.Json(new ErrorBody(new ErrorDetail(message, type, param, code)), ApiJsonContext.Wire.ErrorBody, statusCode: status);

    public static JsonHttpResult<ErrorBody> InvalidRequest(string message, string? param = null, string code = "invalid_value") =>
        Result(StatusCodes.Status400BadRequest, message, "invalid_request_error", code, param);

    public static JsonHttpResult<ErrorBody> NotFound(string message, string code = "not_found", string? param = null) =>
        Result(StatusCodes.Status404NotFound, message, "invalid_request_error", code, param);

    public static JsonHttpResult<ErrorBody> ModelNotFound(string model) =>
        NotFound($"The model '{model}' does not exist or you do not have access to it.", "model_not_found", "model");

    /// <summary>Writes an error straight to the response, for middleware that runs outside endpoints.</summary>
    public static Task WriteAsync(HttpContext context, int status, string message, string type, string? code, string? param = null)
    {
        if (AnthropicErrors.Applies(context))
        {
            return AnthropicErrors.WriteAsync(context, status, message);
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new ErrorBody(new ErrorDetail(message, type, param, code)), ApiJsonContext.Wire.ErrorBody, context.RequestAborted);
    }

    public const string TooLargeMessage = "The request body is larger than this server accepts (maxRequestBodyBytes).";

    /// <summary>The message and code for an error status no handler of ours explains: Kestrel's own, or a bare status code.</summary>
    public static (string Message, string Code) ForStatus(int status) => status switch
    {
        400 => ("The server could not read the HTTP request: its request line, headers or body framing are malformed.", "invalid_request"),
        408 => ("The request was not received in time.", "request_timeout"),
        411 => ("A request with a body needs a Content-Length or chunked transfer encoding.", "length_required"),
        413 => (TooLargeMessage, "request_too_large"),
        414 => ("The request URL is longer than this server accepts.", "url_too_long"),
        431 => ("The request headers are larger than this server accepts.", "headers_too_large"),
        505 => ("This server speaks HTTP/1.1.", "http_version_not_supported"),
        var s => ($"The request failed with status {s}.", "http_" + s),
    };

    /// <summary>Turns a deserialization failure into a message that names the field.</summary>
    public static JsonHttpResult<ErrorBody> FromJsonException(JsonException e)
    {
        // The reader's own exception inside means the text is not JSON at all; otherwise a value had the wrong type.
        var syntax = e.InnerException is JsonException || e.Path is null;
        var path = e.Path is { Length: > 2 } p ? p[2..] : null;
        return syntax || path is null
            ? InvalidRequest("We could not parse the JSON body of your request. The body must be valid JSON.", code: "invalid_json")
            : InvalidRequest($"Invalid type for '{path}': the value does not have the expected type.", path, "invalid_type");
    }
}
