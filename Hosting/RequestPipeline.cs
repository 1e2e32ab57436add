using System.Diagnostics;
using CodexApiServer.Endpoints;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Diagnostics;

namespace CodexApiServer.Hosting;

/// <summary>Request id, one log line and one usage row per request, and OpenAI-shaped errors for everything that goes wrong outside a handler.</summary>
public static partial class RequestPipeline
{
    public static WebApplication UseRequestPipeline(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CodexApiServer.Requests");
        var usage = app.Services.GetRequiredService<UsageLog>();
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var idleTrim = app.Services.GetRequiredService<IdleTrim>();

        app.Use(async (context, next) =>
        {
            // A name, not a secret: Guid's random bytes come from the kernel; RandomNumberGenerator would load OpenSSL
            // (~3.6 MB resident) for every server, even one only ever asked for /health.
            var requestId = "req_" + Guid.NewGuid().ToString("N")[..24];
            context.TraceIdentifier = requestId;
            // Set at the last moment: the exception handler clears headers set earlier.
            context.Response.OnStarting(() =>
            {
                context.Response.Headers["x-request-id"] = requestId;
                // The name the Anthropic SDKs read (their errors carry it as requestID).
                context.Response.Headers["request-id"] = requestId;
                return Task.CompletedTask;
            });
            var started = Stopwatch.GetTimestamp();
            RequestInfo.Of(context).StartedAt = started;
            idleTrim.RequestStarted();
            try
            {
                await next(context);
            }
            finally
            {
                idleTrim.RequestEnded();
                var elapsed = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var info = RequestInfo.Of(context);
                var status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
                LogRequest(logger, requestId, context.Request.Method, context.Request.Path, status, elapsed, info.Model ?? "-", info.ApiKeyId ?? "-");
                var pattern = context.GetEndpoint() is RouteEndpoint route ? route.RoutePattern.RawText : null;
                metrics.Request(context.Request.Method, pattern, status, info, elapsed / 1000.0);
                if (context.Request.Path.StartsWithSegments("/v1"))
                {
                    try
                    {
                        usage.Write(new UsageRow(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), requestId, info.ApiKeyId,
                            context.Request.Method + " " + (pattern ?? context.Request.Path.Value),
                            info.Model, info.Provider, status, info.InputTokens, info.OutputTokens, info.CachedTokens, info.ReasoningTokens, elapsed));
                    }
                    catch (Exception e)
                    {
                        LogUsageFailed(logger, requestId, e.Message);
                    }
                }
            }
        });

        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
            ExceptionHandler = context =>
            {
                var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                if (error is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
                {
                    return OpenAIErrors.WriteAsync(context, 413, OpenAIErrors.TooLargeMessage, "invalid_request_error", "request_too_large");
                }
                if (error is BadHttpRequestException bad)
                {
                    return OpenAIErrors.WriteAsync(context, bad.StatusCode, "The request could not be read: " + bad.Message, "invalid_request_error", "invalid_request");
                }
                LogUnhandled(logger, context.TraceIdentifier, error?.GetType().Name ?? "unknown", error?.ToString() ?? "");
                return OpenAIErrors.WriteAsync(context, 500, $"The server had an error while processing your request (request id {context.TraceIdentifier}).", "server_error", "server_error");
            },
        });

        // Routing's own 404/405 (and any other empty error) leave with an OpenAI error body.
        app.UseStatusCodePages(context =>
        {
            var http = context.HttpContext;
            var (message, code) = http.Response.StatusCode switch
            {
                404 => ($"Unknown request URL: {http.Request.Method} {http.Request.Path}. Please check the URL and method.", "unknown_url"),
                405 => ($"Method {http.Request.Method} is not allowed for {http.Request.Path}.", "method_not_allowed"),
                var s => OpenAIErrors.ForStatus(s),
            };
            return OpenAIErrors.WriteAsync(http, http.Response.StatusCode, message, "invalid_request_error", code);
        });

        // Routing placed here, not implicitly ahead of everything: inside the error handlers, and before
        // the gate, which reads the scope the matched endpoint declares.
        app.UseRouting();
        var access = app.Services.GetRequiredService<AccessControl>();
        app.Use(access.InvokeAsync);
        return app;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{RequestId} {Method} {Path} {Status} {Milliseconds}ms model={Model} key={KeyId}")]
    private static partial void LogRequest(ILogger logger, string requestId, string method, string path, int status, long milliseconds, string model, string keyId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{RequestId} unhandled {ErrorType}: {Error}")]
    private static partial void LogUnhandled(ILogger logger, string requestId, string errorType, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{RequestId} usage row not written: {Reason}")]
    private static partial void LogUsageFailed(ILogger logger, string requestId, string reason);
}
