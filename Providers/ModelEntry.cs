namespace CodexApiServer.Providers;

/// <param name="CliModel">The name passed to the CLI's --model (the full model id where the CLI accepts one).</param>
public sealed record ModelEntry(string Id, ProviderKind Provider, long Created, string CliModel)
{
    public string OwnedBy => Provider == ProviderKind.Claude ? "anthropic" : "openai";
}
