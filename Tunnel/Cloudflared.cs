using System.Runtime.InteropServices;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;

namespace CodexApiServer.Tunnel;

/// <summary>Where cloudflared lives on this machine, which release asset fits it, and how a user installs it.</summary>
internal static class Cloudflared
{
    private static readonly Lazy<bool> DebianLike = new(IsDebianLike);

    public static string ExecutableName => OperatingSystem.IsWindows() ? "cloudflared.exe" : "cloudflared";

    /// <summary>Where POST /admin/tunnel/install puts it.</summary>
    public static string InstalledPath(ServerSettings settings) => Path.Combine(settings.DataDir, "bin", ExecutableName);

    /// <summary>The configured path, then the one we installed, then PATH.</summary>
    public static string? Locate(ServerSettings settings)
    {
        if (!string.IsNullOrEmpty(settings.Config.CloudflaredPath) && File.Exists(settings.Config.CloudflaredPath))
        {
            return Path.GetFullPath(settings.Config.CloudflaredPath);
        }
        var installed = InstalledPath(settings);
        return File.Exists(installed) ? installed : CliProbe.Locate(null, "cloudflared");
    }

    public static CloudflaredStatus Status(ServerSettings settings)
    {
        var path = Locate(settings);
        if (path is not null)
        {
            return new CloudflaredStatus(true, path, null);
        }
        var hint = InstallHint();
        if (!string.IsNullOrEmpty(settings.Config.CloudflaredPath))
        {
            hint = $"cloudflaredPath {settings.Config.CloudflaredPath} does not exist; fix it in config.json, or {hint}";
        }
        return new CloudflaredStatus(false, null, hint);
    }

    public static string NotFoundMessage(ServerSettings settings) => "cloudflared not found; " + Status(settings).InstallHint;

    public static string InstallHint()
    {
        const string ours = "POST /admin/tunnel/install to download it into the data folder";
        if (OperatingSystem.IsMacOS())
        {
            return $"install it with: brew install cloudflared (or {ours})";
        }
        if (OperatingSystem.IsWindows())
        {
            return $"install it with: winget install --id Cloudflare.cloudflared (or {ours})";
        }
        if (OperatingSystem.IsLinux() && DebianLike.Value && DebArch() is { } arch)
        {
            return "install it with: curl -fL -o cloudflared.deb "
                + $"https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-{arch}.deb && sudo dpkg -i cloudflared.deb "
                + "(or with apt from Cloudflare's repository, https://pkg.cloudflare.com/: sudo apt-get install cloudflared; "
                + $"or {ours})";
        }
        return AssetName(RuntimeInformation.OSArchitecture) is { } asset
            ? $"install it with: {ours}, or download {TunnelOptions.ReleaseDownloadBase}{asset} and put it on PATH"
            : "download it from https://github.com/cloudflare/cloudflared/releases and put it on PATH, or set cloudflaredPath in config.json";
    }

    /// <summary>The name of the release asset for this OS and the given CPU, or null where Cloudflare publishes none.</summary>
    public static string? AssetName(Architecture architecture)
    {
        if (OperatingSystem.IsLinux())
        {
            return architecture switch
            {
                Architecture.X64 => "cloudflared-linux-amd64",
                Architecture.Arm64 => "cloudflared-linux-arm64",
                Architecture.Arm => "cloudflared-linux-arm",
                Architecture.X86 => "cloudflared-linux-386",
                _ => null,
            };
        }
        if (OperatingSystem.IsMacOS())
        {
            return architecture switch
            {
                Architecture.X64 => "cloudflared-darwin-amd64.tgz",
                Architecture.Arm64 => "cloudflared-darwin-arm64.tgz",
                _ => null,
            };
        }
        if (OperatingSystem.IsWindows())
        {
            return architecture switch
            {
                Architecture.X64 or Architecture.Arm64 => "cloudflared-windows-amd64.exe",
                Architecture.X86 => "cloudflared-windows-386.exe",
                _ => null,
            };
        }
        return null;
    }

    private static string? DebArch() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.X86 => "386",
        _ => null,
    };

    private static bool IsDebianLike()
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/os-release"))
            {
                if ((line.StartsWith("ID=", StringComparison.Ordinal) || line.StartsWith("ID_LIKE=", StringComparison.Ordinal))
                    && (line.Contains("debian", StringComparison.Ordinal) || line.Contains("ubuntu", StringComparison.Ordinal)))
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return false;
    }
}
