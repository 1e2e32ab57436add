using CodexApiServer.Providers;
using CodexApiServer.Security;

namespace CodexApiServer.Endpoints;

public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/models").RequireScope(RequiredScope.Models);
        group.MapGet("/", List).WithSummary("The models of both CLIs; in Anthropic's shape when the request has anthropic-version")
            .Produces<ModelList>().Produces<AnthropicModelList>();
        group.MapGet("/{id}", Get).WithSummary("One model")
            .Produces<ModelObject>().Produces<AnthropicModel>().Produces<ErrorBody>(404);
        return group;
    }

    // A request with an anthropic-version header (the Anthropic SDKs, Claude Code) gets Anthropic's shape.
    private static bool Anthropic(HttpRequest request) => request.Headers.ContainsKey("anthropic-version");

    private static IResult List(HttpRequest request, ModelCatalog catalog)
    {
        if (Anthropic(request))
        {
            var data = catalog.All.Select(ToAnthropic).ToList();
            return TypedResults.Json(new AnthropicModelList(data, false, data.FirstOrDefault()?.Id, data.LastOrDefault()?.Id), ApiJsonContext.Wire.AnthropicModelList);
        }
        return TypedResults.Json(new ModelList("list", catalog.All.Select(ToObject).ToList()), ApiJsonContext.Wire.ModelList);
    }

    private static IResult Get(string id, HttpRequest request, ModelCatalog catalog) => (catalog.Find(id), Anthropic(request)) switch
    {
        ({ } model, true) => TypedResults.Json(ToAnthropic(model), ApiJsonContext.Wire.AnthropicModel),
        ({ } model, false) => TypedResults.Json(ToObject(model), ApiJsonContext.Wire.ModelObject),
        (null, true) => AnthropicErrors.Result(404, $"model: {id}"),
        (null, false) => OpenAIErrors.ModelNotFound(id),
    };

    private static ModelObject ToObject(ModelEntry model) => new(model.Id, "model", model.Created, model.OwnedBy);

    private static AnthropicModel ToAnthropic(ModelEntry model) =>
        new("model", model.Id, model.Id, DateTimeOffset.FromUnixTimeSeconds(model.Created).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
}
