namespace CodexApiServer.Providers;

public enum ProviderKind
{
    Codex,
    Claude,
}
