using CodexApiServer.Security;

namespace CodexApiServer.Endpoints;

/// <summary>
/// `/openapi.json`, built from the mapped endpoints on first request, and `/docs`, an embedded viewer
/// of it (wwwroot/docs.html + docs.js, no CDN). Public like the console's pages: the document tells
/// only what the open-source code does, and every operation in it still needs its scope.
/// </summary>
public static class ApiDocs
{
    public static IEndpointRouteBuilder MapApiDocs(this IEndpointRouteBuilder routes)
    {
        var document = new Lazy<byte[]>(() => OpenApiDocument.Serialize(
            OpenApiDocument.Build(routes.ServiceProvider.GetRequiredService<EndpointDataSource>().Endpoints)));
        var docs = routes.MapGroup("").Public();
        docs.MapGet("/openapi.json", () => TypedResults.Bytes(document.Value, "application/json"))
            .WithSummary("This document: every route with its request and response bodies, errors and auth")
            .Produces<System.Text.Json.Nodes.JsonObject>();
        docs.MapGet("/docs", (HttpContext context) => AdminPages.Serve(context, "docs.html"))
            .WithSummary("A viewer of /openapi.json, embedded in the binary (works offline)")
            .Produces<string>(200, "text/html");
        return routes;
    }
}
