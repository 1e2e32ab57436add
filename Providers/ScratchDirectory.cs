namespace CodexApiServer.Providers;

/// <summary>
/// The scratch folders under the data directory, where the CLIs work and write for a conversation:
/// the owner's only (0700), like the data directory, whatever the umask or an older version left.
/// </summary>
internal static class ScratchDirectory
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static string Root(string dataDir) => Path.Combine(dataDir, "scratch");

    /// <summary>Creates DATA_DIR/scratch and, with a name, a folder in it; returns the path.</summary>
    public static string Create(string dataDir, string? name = null)
    {
        var root = Root(dataDir);
        var path = name is null ? root : Path.Combine(root, name);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return path;
        }
        Directory.CreateDirectory(path, Private);
        File.SetUnixFileMode(root, Private);
        File.SetUnixFileMode(path, Private);
        return path;
    }
}
