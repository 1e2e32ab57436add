namespace CodexApiServer.Tests.Support;

/// <summary>The temp folders the linked mocks ask for (the tests' own helper lives beside xunit code).</summary>
public static class TempDir
{
    public static string Create(string purpose)
    {
        var dir = Path.Combine(Path.GetTempPath(), "cas-bench", $"{purpose}-{Guid.NewGuid():N}");
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
