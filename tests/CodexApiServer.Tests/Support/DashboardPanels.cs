using System.Text.Json.Nodes;

namespace CodexApiServer.Tests.Support;

/// <summary>The text of the console dashboard's CLI panels as Chromium shows it (tests/node/dashboard-check.mjs).</summary>
public static class DashboardPanels
{
    public static async Task<(string Codex, string Claude)> ReadAsync(HttpClient server)
    {
        var (exit, output) = await NodeScript.RunAsync("dashboard-check.mjs", [server.BaseAddress!.ToString().TrimEnd('/')], TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, output);
        var panels = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
        return ((string)panels["codex"]!, (string)panels["claude"]!);
    }
}
