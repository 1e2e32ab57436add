using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>Reads a JSON request body with a source-generated type, turning every failure into a 400 or 413.</summary>
public static class RequestBody
{
    public static async Task<(T? Value, JsonHttpResult<ErrorBody>? Error)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type)
        where T : class
    {
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, OpenAIErrors.InvalidRequest($"Unsupported content type '{contentType}'; send application/json.", code: "invalid_content_type"));
        }
        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, type, request.HttpContext.RequestAborted);
            return value is null
                ? (null, OpenAIErrors.InvalidRequest("The request body must be a JSON object.", code: "invalid_json"))
                : (value, null);
        }
        catch (JsonException e)
        {
            return (null, OpenAIErrors.FromJsonException(e));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }
    }

    public static JsonHttpResult<ErrorBody> TooLarge() =>
        OpenAIErrors.Result(StatusCodes.Status413PayloadTooLarge, "The request body is larger than this server accepts (maxRequestBodyBytes).", "invalid_request_error", "request_too_large");
}
