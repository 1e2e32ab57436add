namespace CodexApiServer.Providers;

/// <param name="Role">system, developer, user, assistant or tool.</param>
public sealed record TurnMessage(string Role, IReadOnlyList<TurnPart> Parts)
{
    public static TurnMessage User(string text) => new("user", [new TextPart(text)]);
}
