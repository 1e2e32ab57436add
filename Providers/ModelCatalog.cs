using CodexApiServer.Hosting;

namespace CodexApiServer.Providers;

/// <summary>The models we list and the provider each one routes to.</summary>
public sealed class ModelCatalog
{
    // The original product's table. `created` is a fixed date per family: clients only need an integer.
    private static readonly ModelEntry[] BuiltIn =
    [
        new("gpt-5.2-codex", ProviderKind.Codex, 1765497600, "gpt-5.2-codex"),
        new("gpt-5.1-codex", ProviderKind.Codex, 1762992000, "gpt-5.1-codex"),
        new("gpt-5.2", ProviderKind.Codex, 1765497600, "gpt-5.2"),
        new("gpt-5.1", ProviderKind.Codex, 1762992000, "gpt-5.1"),
        new("gpt-5", ProviderKind.Codex, 1754524800, "gpt-5"),
        new("gpt-4.1", ProviderKind.Codex, 1744588800, "gpt-4.1"),
        new("gpt-4.1-mini", ProviderKind.Codex, 1744588800, "gpt-4.1-mini"),
        new("gpt-4o", ProviderKind.Codex, 1715558400, "gpt-4o"),
        new("gpt-4o-mini", ProviderKind.Codex, 1721174400, "gpt-4o-mini"),
        new("claude-opus-4", ProviderKind.Claude, 1747872000, "claude-opus-4-0"),
        new("claude-opus-4-5", ProviderKind.Claude, 1763942400, "claude-opus-4-5"),
        new("claude-sonnet-4", ProviderKind.Claude, 1747872000, "claude-sonnet-4-0"),
        new("claude-sonnet-4-5", ProviderKind.Claude, 1759104000, "claude-sonnet-4-5"),
        new("claude-3-5-sonnet", ProviderKind.Claude, 1729555200, "claude-3-5-sonnet-latest"),
        new("claude-haiku", ProviderKind.Claude, 1760486400, "haiku"),
        new("claude-3-5-haiku", ProviderKind.Claude, 1729555200, "claude-3-5-haiku-latest"),
        new("opus", ProviderKind.Claude, 1763942400, "opus"),
        new("sonnet", ProviderKind.Claude, 1759104000, "sonnet"),
        new("haiku", ProviderKind.Claude, 1760486400, "haiku"),
    ];

    private readonly Dictionary<string, ModelEntry> _byId;
    private volatile IReadOnlyCollection<string> _reportedCodexModels = [];

    public ModelCatalog(ServerSettings settings)
    {
        _byId = BuiltIn.ToDictionary(m => m.Id, StringComparer.OrdinalIgnoreCase);
        foreach (var model in settings.Config.Models)
        {
            var kind = model.Provider == "claude" ? ProviderKind.Claude : ProviderKind.Codex;
            _byId[model.Id] = new ModelEntry(model.Id, kind, 1700000000, model.Id);
        }
    }

    public IEnumerable<ModelEntry> All =>
        _byId.Values.Concat(_reportedCodexModels.Where(id => !_byId.ContainsKey(id)).Select(CodexReported));

    /// <summary>Models the installed Codex reports (model/list) are routable too.</summary>
    public void SetReportedCodexModels(IEnumerable<string> ids) =>
        _reportedCodexModels = ids.Where(ModelName.IsValid).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The entry for a model name (any case), or null when it is invalid or unknown.</summary>
    public ModelEntry? Find(string? id)
    {
        if (!ModelName.IsValid(id))
        {
            return null;
        }
        if (_byId.TryGetValue(id!, out var entry))
        {
            return entry;
        }
        if (id!.StartsWith("claude-", StringComparison.OrdinalIgnoreCase))
        {
            // Any claude-* name routes to Claude Code and is passed through as the full model id.
            return new ModelEntry(id, ProviderKind.Claude, 1700000000, id);
        }
        var reported = _reportedCodexModels.FirstOrDefault(m => string.Equals(m, id, StringComparison.OrdinalIgnoreCase));
        return reported is not null ? CodexReported(reported) : null;
    }

    /// <summary>
    /// Where a request for a model goes: a known model to its provider, every other valid name to
    /// Codex as given (Codex says whether it exists). Null only for a name that is not valid.
    /// </summary>
    public ModelEntry? Route(string? id) =>
        Find(id) ?? (ModelName.IsValid(id) ? CodexReported(id!) : null);

    private static ModelEntry CodexReported(string id) => new(id, ProviderKind.Codex, 1700000000, id);
}
