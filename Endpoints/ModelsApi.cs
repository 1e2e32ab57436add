using CodexApiServer.Providers;
using CodexApiServer.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/models").RequireScope(RequiredScope.Models);
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        return group;
    }

    private static JsonHttpResult<ModelList> List(ModelCatalog catalog) =>
        TypedResults.Json(new ModelList("list", catalog.All.Select(ToObject).ToList()), ApiJsonContext.Wire.ModelList);

    private static Results<JsonHttpResult<ModelObject>, JsonHttpResult<ErrorBody>> Get(string id, ModelCatalog catalog) =>
        catalog.Find(id) is { } model
            ? TypedResults.Json(ToObject(model), ApiJsonContext.Wire.ModelObject)
            : OpenAIErrors.ModelNotFound(id);

    private static ModelObject ToObject(ModelEntry model) => new(model.Id, "model", model.Created, model.OwnedBy);
}
