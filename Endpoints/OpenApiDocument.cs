using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using CodexApiServer.Hosting;
using CodexApiServer.Security;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing.Patterns;

namespace CodexApiServer.Endpoints;

/// <summary>Endpoint metadata: errors of this route come in this body type (default: OpenAI's <see cref="ErrorBody"/>).</summary>
public sealed record ErrorShape(Type BodyType);

/// <summary>
/// The OpenAPI 3.1 document, built from what routing knows: every mapped endpoint with its methods,
/// path parameters, scope (<see cref="RequiredScope"/>), summary, and the request and response types
/// each route declares (<c>Accepts</c>/<c>Produces</c>), their JSON schemas exported from the same
/// source-generated contexts that write them on the wire. No reflection, nothing kept by hand.
/// (Microsoft.AspNetCore.OpenApi would add ~2 MB of native code for the same result; see the README.)
/// </summary>
public static class OpenApiDocument
{
    public static JsonObject Build(IEnumerable<Endpoint> endpoints)
    {
        var schemas = new SortedDictionary<string, JsonNode>(StringComparer.Ordinal);
        var paths = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.OfType<RouteEndpoint>())
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods;
            if (methods is null || methods.Count == 0)
            {
                continue;
            }
            var path = PathOf(endpoint.RoutePattern);
            if (!paths.TryGetValue(path, out var item))
            {
                paths[path] = item = [];
            }
            foreach (var method in methods)
            {
                item[method.ToLowerInvariant()] = Operation(endpoint, path, method, schemas);
            }
        }

        var pathsNode = new JsonObject();
        foreach (var (path, item) in paths)
        {
            pathsNode[path] = item;
        }
        var schemaNode = new JsonObject();
        foreach (var (name, schema) in schemas)
        {
            schemaNode[name] = schema;
        }
        return new JsonObject
        {
            ["openapi"] = "3.1.1",
            ["info"] = new JsonObject
            {
                ["title"] = "Codex API Server",
                ["version"] = AppInfo.Version,
                ["description"] = "OpenAI-compatible (and Anthropic Messages) API over the codex and claude CLIs. Requests from this machine need no key while allowLocalWithoutAuth is on; all others need an API key with the scope each operation names.",
            },
            ["paths"] = pathsNode,
            ["components"] = new JsonObject
            {
                ["schemas"] = schemaNode,
                ["securitySchemes"] = new JsonObject
                {
                    ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer", ["description"] = "Authorization: Bearer KEY (an API key or the master key)" },
                    ["apiKey"] = new JsonObject { ["type"] = "apiKey", ["in"] = "header", ["name"] = "x-api-key", ["description"] = "x-api-key: KEY, as Anthropic clients send it" },
                },
            },
        };
    }

    /// <summary>The path as clients write it: a group's "/v1/messages/" is reached as "/v1/messages" too, and documented so.</summary>
    public static string PathOf(RoutePattern pattern) => "/" + (pattern.RawText ?? "").Trim('/');

    private static JsonObject Operation(RouteEndpoint endpoint, string path, string method, IDictionary<string, JsonNode> schemas)
    {
        var metadata = endpoint.Metadata;
        var operation = new JsonObject
        {
            ["operationId"] = OperationId(method, path),
            ["tags"] = new JsonArray(Tag(path)),
        };
        if (metadata.GetMetadata<IEndpointSummaryMetadata>()?.Summary is { } summary)
        {
            operation["summary"] = summary;
        }
        if (metadata.GetMetadata<IEndpointDescriptionMetadata>()?.Description is { } description)
        {
            operation["description"] = description;
        }

        var parameters = new JsonArray();
        foreach (var parameter in endpoint.RoutePattern.Parameters)
        {
            parameters.Add((JsonNode)new JsonObject { ["name"] = parameter.Name, ["in"] = "path", ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" } });
        }
        // Query parameters the handler binds itself (int? limit, long? since): what the request delegate generator records.
        foreach (var parameter in metadata.OfType<IParameterBindingMetadata>()
                     .Where(p => p.HasTryParse && endpoint.RoutePattern.GetParameter(p.Name) is null))
        {
            var type = Nullable.GetUnderlyingType(parameter.ParameterInfo.ParameterType) ?? parameter.ParameterInfo.ParameterType;
            var schemaType = type == typeof(int) || type == typeof(long) ? "integer" : type == typeof(bool) ? "boolean" : "string";
            parameters.Add((JsonNode)new JsonObject { ["name"] = parameter.Name, ["in"] = "query", ["required"] = !parameter.IsOptional, ["schema"] = new JsonObject { ["type"] = schemaType } });
        }
        if (parameters.Count > 0)
        {
            operation["parameters"] = parameters;
        }

        if (metadata.GetMetadata<IAcceptsMetadata>() is { RequestType: { } requestType } accepts)
        {
            operation["requestBody"] = new JsonObject
            {
                ["required"] = !accepts.IsOptional,
                ["content"] = Content(accepts.ContentTypes.Count > 0 ? accepts.ContentTypes : ["application/json"], [requestType], schemas),
            };
        }

        var scope = metadata.GetMetadata<RequiredScope>() is { } declared ? declared.Scope : RequiredScope.Undecided(path, endpoint);
        var responses = new JsonObject();
        foreach (var status in metadata.OfType<IProducesResponseTypeMetadata>().GroupBy(p => p.StatusCode).OrderBy(g => g.Key))
        {
            var response = new JsonObject { ["description"] = status.FirstOrDefault(p => p.Description is not null)?.Description ?? Reason(status.Key) };
            var byType = status.Where(p => p.Type is not null && p.Type != typeof(void))
                .SelectMany(p => (p.ContentTypes.Any() ? p.ContentTypes : ["application/json"]).Select(c => (ContentType: c, Type: p.Type!)))
                .GroupBy(x => x.ContentType);
            var content = new JsonObject();
            foreach (var group in byType)
            {
                content[group.Key] = MediaType(group.Select(x => x.Type).Distinct().ToList(), schemas);
            }
            if (content.Count > 0)
            {
                response["content"] = content;
            }
            responses[status.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)] = response;
        }

        var errorType = metadata.GetMetadata<ErrorShape>()?.BodyType ?? typeof(ErrorBody);
        void Error(string status, string description)
        {
            if (!responses.ContainsKey(status))
            {
                responses[status] = new JsonObject { ["description"] = description, ["content"] = Content(["application/json"], [errorType], schemas) };
            }
        }
        if (operation.ContainsKey("requestBody"))
        {
            Error("400", "Malformed JSON, a field of the wrong type or a value out of range (the error names the field)");
            Error("413", "The body is larger than maxRequestBodyBytes");
        }
        if (scope is not null)
        {
            Error("401", "No API key, or one that is wrong, expired or revoked (requests from this machine need none while allowLocalWithoutAuth is on)");
            Error("403", $"The key lacks the '{scope}' scope, or the host name is not one of the server's");
            Error("429", "The key's rate limit or token budget is used up");
        }
        Error("default", "An error, in the route's error shape");
        operation["responses"] = responses;

        operation["security"] = scope is null
            ? new JsonArray()
            : new JsonArray(
                new JsonObject { ["bearer"] = new JsonArray(scope) },
                new JsonObject { ["apiKey"] = new JsonArray(scope) });
        if (scope is not null)
        {
            operation["x-required-scope"] = scope;
        }
        return operation;
    }

    private static JsonObject Content(IEnumerable<string> contentTypes, IReadOnlyList<Type> types, IDictionary<string, JsonNode> schemas)
    {
        var content = new JsonObject();
        foreach (var contentType in contentTypes)
        {
            content[contentType] = MediaType(types, schemas);
        }
        return content;
    }

    private static JsonObject MediaType(IReadOnlyList<Type> types, IDictionary<string, JsonNode> schemas)
    {
        var refs = types.Select(t => SchemaRef(t, schemas)).ToList();
        return new JsonObject { ["schema"] = refs.Count == 1 ? refs[0] : new JsonObject { ["oneOf"] = new JsonArray([.. refs.Cast<JsonNode>()]) } };
    }

    private static JsonObject SchemaRef(Type type, IDictionary<string, JsonNode> schemas)
    {
        if (type == typeof(string))
        {
            return new JsonObject { ["type"] = "string" };
        }
        var name = SchemaName(type);
        if (!schemas.ContainsKey(name))
        {
            // Each type from the context that writes it: the wire's snake_case, config.json's camelCase.
            var info = ApiJsonContext.Wire.GetTypeInfo(type) ?? ConfigJsonContext.Default.GetTypeInfo(type)
                ?? throw new InvalidOperationException($"{type.Name} is documented as a request or response but is in no JSON context");
            var schema = JsonSchemaExporter.GetJsonSchemaAsNode(info, new JsonSchemaExporterOptions { TreatNullObliviousAsNonNullable = true });
            RebaseReferences(schema, "#/components/schemas/" + name);
            schemas[name] = schema;
        }
        return new JsonObject { ["$ref"] = "#/components/schemas/" + name };
    }

    /// <summary>The exporter points recursive types at "#/..." of its own root; in the document that root is the component.</summary>
    private static void RebaseReferences(JsonNode? node, string root)
    {
        switch (node)
        {
            case JsonObject obj:
                if (obj["$ref"] is JsonValue value && value.TryGetValue<string>(out var reference) && reference.StartsWith('#'))
                {
                    obj["$ref"] = root + reference[1..];
                }
                foreach (var (_, child) in obj.ToList())
                {
                    RebaseReferences(child, root);
                }
                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    RebaseReferences(child, root);
                }
                break;
        }
    }

    private static string SchemaName(Type type) => type.IsGenericType
        ? type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)] + "Of" + string.Concat(type.GetGenericArguments().Select(SchemaName))
        : type.Name;

    private static string OperationId(string method, string path)
    {
        var words = path.Split('/', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => s.Trim('{', '}').Replace("-", "_", StringComparison.Ordinal).Replace(".", "_", StringComparison.Ordinal));
        return method.ToLowerInvariant() + "_" + (path == "/" ? "root" : string.Join("_", words));
    }

    private static string Tag(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return segments switch
        {
            ["v1", var api, ..] => api,
            ["admin", "tunnel", ..] => "tunnel",
            ["admin", "config" or "stats" or "logs" or "master-key", ..] => "admin",
            ["health"] => "health",
            _ => "pages",
        };
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No content",
        302 => "Redirect",
        404 => "Not found",
        _ => "Status " + status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The document as UTF-8 JSON, built once: endpoints do not change after start.</summary>
    public static byte[] Serialize(JsonObject document) =>
        JsonSerializer.SerializeToUtf8Bytes(document, ApiJsonContext.Wire.JsonObject);
}
