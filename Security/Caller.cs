using CodexApiServer.Storage;

namespace CodexApiServer.Security;

/// <summary>Who is asking: decided once per request by <see cref="AccessControl"/>, read by handlers.</summary>
/// <param name="External">Not from this machine, or through a proxy, or from a foreign browser origin.</param>
/// <param name="IsMaster">Presented the master key.</param>
/// <param name="Key">The API key presented, when it was valid.</param>
/// <param name="LocalWithoutAuth">A local request let in without a key (allowLocalWithoutAuth).</param>
public sealed record Caller(bool External, bool IsMaster, ApiKeyRecord? Key, bool LocalWithoutAuth)
{
    /// <summary>Manages keys and settings and sees every stored response. The admin scope implies the others.</summary>
    public bool IsAdmin => IsMaster || LocalWithoutAuth || Has("admin");

    public bool Allows(string scope) => IsMaster || LocalWithoutAuth || Has("admin") || Has(scope) || (scope == "any" && Key is not null);

    public string? KeyId => Key?.Id;

    private bool Has(string scope) => Key is not null && Key.Scopes.Contains(scope);

    public static Caller Of(HttpContext context) =>
        context.Features.Get<Caller>() ?? throw new InvalidOperationException("AccessControl did not run for this request");
}
