using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>
/// Errors in Anthropic's shape, `{"type":"error","error":{"type","message"}}`, for the Messages routes:
/// the Anthropic SDKs pick their error class by the status and read this body. Every error made for a
/// request that <see cref="Applies"/> to goes out this way, the middleware's (auth, limits, body size) included.
/// </summary>
public static class AnthropicErrors
{
    /// <summary>
    /// Whether errors of this request take Anthropic's shape: on the Messages routes, and for any request
    /// of an Anthropic client (its SDKs send anthropic-version on every call, /v1/models included).
    /// </summary>
    public static bool Applies(HttpContext context) =>
        context.Request.Path.StartsWithSegments("/v1/messages") || context.Request.Headers.ContainsKey("anthropic-version");

    /// <summary>Anthropic's error type for a status.</summary>
    public static string TypeFor(int status) => status switch
    {
        400 or 409 or 411 or 414 or 415 or 422 or 431 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 or 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    };

    public static AnthropicErrorBody Body(int status, string message) => new("error", new AnthropicErrorDetail(TypeFor(status), message));

    public static JsonHttpResult<AnthropicErrorBody> Result(int status, string message) =>
        TypedResults.Json(Body(status, message), ApiJsonContext.Wire.AnthropicErrorBody, statusCode: status);

    /// <summary>An error made in OpenAI's shape (by a shared reader or check), re-shaped.</summary>
    public static JsonHttpResult<AnthropicErrorBody> From(JsonHttpResult<ErrorBody> openAI) =>
        Result(openAI.StatusCode ?? 400, openAI.Value?.Error.Message ?? "invalid request");

    public static JsonHttpResult<AnthropicErrorBody> ToAnthropicResult(this ApiError error, HttpContext context)
    {
        error.ApplyHeaders(context.Response);
        return Result(error.Status, error.Message);
    }

    public static Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, Body(status, message), ApiJsonContext.Wire.AnthropicErrorBody, context.RequestAborted);
    }
}
