using System.Collections.Frozen;
using CodexApiServer.Hosting;
using CodexApiServer.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>
/// The admin console: a few static files embedded in the binary as plain resources (smaller than
/// an embedded file provider), served from memory. The pages are public; the data they show is not.
/// </summary>
public static class AdminPages
{
    private static readonly FrozenDictionary<string, (string ContentType, byte[] Bytes)> Files = Load();

    public static IEndpointRouteBuilder MapAdminPages(this IEndpointRouteBuilder routes)
    {
        var pages = routes.MapGroup("").Public();
        pages.MapGet("/", (ServerSettings settings) => TypedResults.Redirect(settings.FirstRun ? "/setup" : "/admin"))
            .WithSummary("To /setup on the first start, to /admin afterwards").Produces(302);
        pages.MapGet("/admin", (HttpContext context) => Serve(context, "index.html")).WithSummary("The admin console").Produces<string>(200, "text/html");
        pages.MapGet("/setup", (HttpContext context) => Serve(context, "setup.html")).WithSummary("First-run setup").Produces<string>(200, "text/html");
        pages.MapGet("/admin/{file}", (HttpContext context, string file) => Serve(context, file)).WithSummary("The console's scripts and styles").Produces<string>(200, "text/javascript", "text/css");
        return routes;
    }

    // Our own files only, and never inside another site's frame (clickjacking the Regenerate button).
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    internal static Results<FileContentHttpResult, NotFound> Serve(HttpContext context, string file)
    {
        if (!Files.TryGetValue(file, out var entry))
        {
            return TypedResults.NotFound();
        }
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        return TypedResults.File(entry.Bytes, entry.ContentType);
    }

    private static FrozenDictionary<string, (string, byte[])> Load()
    {
        var assembly = typeof(AdminPages).Assembly;
        var files = new Dictionary<string, (string, byte[])>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("wwwroot/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            var file = name["wwwroot/".Length..];
            var type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            };
            files[file] = (type, memory.ToArray());
        }
        return files.ToFrozenDictionary();
    }
}
