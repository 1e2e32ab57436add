using CodexApiServer.Hosting;

namespace CodexApiServer.Endpoints;

// TEMPORARY until the parsers check the model (split-endpoints branch).
internal static class ModelCheck
{
    public static ApiError? Error(string? model) =>
        string.IsNullOrEmpty(model) ? new ApiError(400, "You must provide a model parameter.", "invalid_request_error", "missing_required_parameter", "model")
        : !ModelName.IsValid(model) ? new ApiError(400, "Invalid model name: use letters, digits, '.', '_', ':' or '-' (at most 64 characters).", "invalid_request_error", "invalid_value", "model")
        : null;
}
