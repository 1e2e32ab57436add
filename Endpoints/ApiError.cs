using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>An error on its way to the client, with the headers that tell SDKs whether to retry.</summary>
public sealed record ApiError(int Status, string Message, string Type, string? Code, string? Param = null, TimeSpan? RetryAfter = null, bool NoRetry = false)
{
    public ErrorDetail Detail => new(Message, Type, Param, Code);

    public void ApplyHeaders(HttpResponse response)
    {
        if (RetryAfter is { } wait)
        {
            response.Headers["retry-after"] = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.Headers["retry-after-ms"] = ((long)wait.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (NoRetry)
        {
            response.Headers["x-should-retry"] = "false";
        }
    }

    public JsonHttpResult<ErrorBody> ToResult(HttpContext context)
    {
        ApplyHeaders(context.Response);
        return OpenAIErrors.Result(Status, Message, Type, Code, Param);
    }

    /// <summary>Writes it straight to the response, for middleware that runs outside endpoints.</summary>
    public Task WriteAsync(HttpContext context)
    {
        ApplyHeaders(context.Response);
        return OpenAIErrors.WriteAsync(context, Status, Message, Type, Code, Param);
    }
}
