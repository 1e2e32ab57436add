using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace CodexApiServer.Tests.Support;

/// <summary>
/// How a test tells the mock model servers to call tools: markers in the user's text.
/// <c>&lt;&lt;call NAME {json args}&gt;&gt;</c> is one call; several markers are parallel calls of one model
/// step; <c>&lt;&lt;next&gt;&gt;</c> separates steps (rounds). A mock answers the request whose conversation has
/// had k tool steps since that user message with round k's calls (only of tools the request declares),
/// and once the rounds are used up with the text <see cref="FinalAnswer"/> of every tool result since the
/// user message, so a test sees that the results reached the model.
/// </summary>
public static partial class ToolScript
{
    public sealed record Call(string Name, JsonObject Arguments);

    /// <summary>The rounds in <paramref name="userText"/>; empty when it has no marker.</summary>
    public static IReadOnlyList<IReadOnlyList<Call>> Parse(string userText)
    {
        var rounds = new List<IReadOnlyList<Call>>();
        foreach (var round in userText.Split("<<next>>"))
        {
            var calls = Marker().Matches(round)
                .Select(m => new Call(m.Groups["name"].Value, JsonNode.Parse(m.Groups["args"].Value)!.AsObject()))
                .ToList();
            if (calls.Count > 0)
            {
                rounds.Add(calls);
            }
        }
        return rounds;
    }

    /// <summary>A marker for <paramref name="name"/> with <paramref name="arguments"/> (a JSON object text).</summary>
    public static string Marker(string name, string arguments) => $"<<call {name} {arguments}>>";

    /// <summary>What a mock answers once every round was called: each result in order, an error marked.</summary>
    public static string FinalAnswer(IEnumerable<(string Output, bool IsError)> results) =>
        "TOOL RESULTS: " + string.Join(" | ", results.Select(r => r.IsError ? "(error) " + r.Output : r.Output));

    [GeneratedRegex(@"<<call (?<name>[A-Za-z0-9_.\-]+) (?<args>\{.*?\})>>", RegexOptions.Singleline)]
    private static partial Regex Marker();
}
