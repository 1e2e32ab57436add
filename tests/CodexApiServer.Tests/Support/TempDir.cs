namespace CodexApiServer.Tests.Support;

/// <summary>Throw-away folders under the system temp folder, for tests and the bench.</summary>
public static class TempDir
{
    public static string Create(string purpose)
    {
        var dir = Path.Combine(Path.GetTempPath(), "cas-tests", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void Delete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
