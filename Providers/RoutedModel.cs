namespace CodexApiServer.Providers;

/// <summary>A model and the provider that runs it.</summary>
public sealed record RoutedModel(ModelEntry Model, ITurnProvider Provider);
