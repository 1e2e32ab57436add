using System.Text.RegularExpressions;

namespace CodexApiServer.Hosting;

/// <summary>The one check every model name passes before it goes anywhere near a process.</summary>
public static partial class ModelName
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    private static partial Regex Pattern();

    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);
}
