namespace CodexApiServer.Tests.Support;

/// <summary>Small executable scripts standing in for a CLI where a test needs one to misbehave.</summary>
public static class FakeCli
{
    private static readonly string Dir = TempDir.Create("fake-cli");

    public static string Write(string name, string body)
    {
        var path = Path.Combine(Dir, $"{name}-{Guid.NewGuid():N}");
        File.WriteAllText(path, "#!/bin/sh\n" + body);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
