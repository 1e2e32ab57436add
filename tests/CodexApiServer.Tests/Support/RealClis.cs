namespace CodexApiServer.Tests.Support;

/// <summary>
/// The real CLIs from npm, installed by tests/run into tests/node (versions pinned in
/// tests/node/package.json). Tests that drive them fail loudly when they are missing: CI installs them.
/// </summary>
public static class RealClis
{
    public static string NodeModulesBin { get; } = FindBin();

    public static string Codex => Require("codex");

    public static string Claude => Require("claude");

    private static string Require(string name)
    {
        var path = Path.Combine(NodeModulesBin, name);
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{path} is missing; run `bash tests/run` (it installs tests/node) first");
    }

    private static string FindBin()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "node", "node_modules", ".bin");
            if (Directory.Exists(Path.Combine(dir.FullName, "tests", "node")))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("cannot find tests/node above " + AppContext.BaseDirectory);
    }
}
