namespace CodexApiServer.Providers.Codex;

/// <summary>The scratch folders codex threads and exec turns work in (DATA_DIR/scratch/codex-*).</summary>
internal static class CodexScratchDirs
{
    public static string Create(string dataDir) => ScratchDirectory.Create(dataDir, $"codex-{Guid.NewGuid():N}");

    /// <summary>Scratch folders of an earlier run: a resumed thread gets a new one.</summary>
    public static void RemoveStale(string dataDir, IReadOnlySet<string> live)
    {
        var root = ScratchDirectory.Root(dataDir);
        if (!Directory.Exists(root))
        {
            return;
        }
        foreach (var dir in Directory.EnumerateDirectories(root, "codex-*"))
        {
            if (!live.Contains(dir))
            {
                Delete(dir);
            }
        }
    }

    public static void Delete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
