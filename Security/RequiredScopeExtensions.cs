namespace CodexApiServer.Security;

public static class RequiredScopeExtensions
{
    /// <summary>Requests to these endpoints need a key with <paramref name="scope"/> (or admin, or the master key) from outside.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredScope(scope));

    /// <summary>Anyone may call these endpoints, without a key (they decide themselves what an outsider sees).</summary>
    public static TBuilder Public<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(RequiredScope.Public);
}
