using System.Runtime.InteropServices;
using System.Text.Json;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// What to start for `codex`: the npm package's native binary itself when <see cref="For"/> finds it, else the
/// configured path. The package's `bin/codex.js` (0.169.0) only finds that binary and runs it with two
/// environment variables; under Node &lt; 23.11 (no `process.execve`) it stays alive as its parent, ~44 MB of node
/// doing nothing but forwarding signals. Starting the binary the same way saves that process and its start-up.
/// </summary>
/// <param name="File">The executable to start.</param>
/// <param name="Environment">The wrapper's variables, then the provider's own (tests point codex at a mock), for the child.</param>
/// <param name="Native">True when <paramref name="File"/> is the native binary found behind the wrapper.</param>
public sealed record CodexLaunch(string File, IReadOnlyDictionary<string, string?>? Environment, bool Native)
{
    private const string PackageName = "@openai/codex";

    private static readonly string[] ManagedByVariables =
        ["CODEX_MANAGED_BY_NPM", "CODEX_MANAGED_BY_BUN", "CODEX_MANAGED_BY_PNPM", "CODEX_MANAGED_BY_VITE_PLUS"];

    /// <summary>The native binary behind <paramref name="path"/> if it is the npm wrapper and the binary is there; else <paramref name="path"/> as it is.</summary>
    public static CodexLaunch For(string path, IReadOnlyDictionary<string, string?>? environment)
    {
        var wrapper = NativeBehind(path);
        if (wrapper is null)
        {
            return new CodexLaunch(path, environment, false);
        }
        var merged = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["CODEX_MANAGED_PACKAGE_ROOT"] = wrapper.Value.PackageRoot,
        };
        foreach (var name in ManagedByVariables)
        {
            merged[name] = null;
        }
        merged[ManagedByVariable(wrapper.Value.PackageRoot, path)] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            merged[key] = value;
        }
        return new CodexLaunch(wrapper.Value.Binary, merged, true);
    }

    /// <summary>
    /// As `bin/codex.js` does: the platform package (`@openai/codex-linux-x64` ...) as Node's `require.resolve` finds it
    /// from the wrapper's real directory, else the package's own `vendor/`; then `vendor/TRIPLE/bin/codex`.
    /// </summary>
    private static (string Binary, string PackageRoot)? NativeBehind(string path)
    {
        if (TargetTriple() is not { } target)
        {
            return null;
        }
        string script;
        try
        {
            script = RealPath(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var binDir = Path.GetDirectoryName(script);
        var packageRoot = binDir is null ? null : Path.GetDirectoryName(binDir);
        if (Path.GetFileName(script) != "codex.js" || Path.GetFileName(binDir) != "bin" || packageRoot is null || PackageNameOf(packageRoot) != PackageName)
        {
            return null;
        }
        var vendor = ResolvePackage(binDir!, target.Package) is { } platformPackage
            ? Path.Combine(platformPackage, "vendor")
            : Path.Combine(packageRoot, "vendor");
        var binary = Path.Combine(vendor, target.Triple, "bin", "codex");
        return System.IO.File.Exists(binary) ? (binary, packageRoot) : null;
    }

    /// <summary>The wrapper's table of platforms it has a binary for (Windows keeps the wrapper: its shim is a .cmd).</summary>
    private static (string Triple, string Package)? TargetTriple() => (OperatingSystem.IsLinux(), OperatingSystem.IsMacOS(), RuntimeInformation.ProcessArchitecture) switch
    {
        (true, _, Architecture.X64) => ("x86_64-unknown-linux-musl", "@openai/codex-linux-x64"),
        (true, _, Architecture.Arm64) => ("aarch64-unknown-linux-musl", "@openai/codex-linux-arm64"),
        (_, true, Architecture.X64) => ("x86_64-apple-darwin", "@openai/codex-darwin-x64"),
        (_, true, Architecture.Arm64) => ("aarch64-apple-darwin", "@openai/codex-darwin-arm64"),
        _ => null,
    };

    /// <summary>Node's lookup of a package from a directory: DIR/node_modules/NAME, then each parent's (skipping node_modules folders themselves).</summary>
    private static string? ResolvePackage(string fromDir, string name)
    {
        for (var dir = fromDir; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (Path.GetFileName(dir) == "node_modules")
            {
                continue;
            }
            var candidate = Path.Combine(dir, "node_modules", name);
            if (System.IO.File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// Which `CODEX_MANAGED_BY_*` the wrapper would set (codex uses it to say how to update itself): pnpm when a
    /// `node_modules/.modules.yaml` above the package owns it, Vite+ when a `packages/@openai/codex.json` above it names
    /// the package, bun by its global folder or the user agent, else npm.
    /// </summary>
    private static string ManagedByVariable(string packageRoot, string invokedPath)
    {
        foreach (var start in new[] { packageRoot, Path.GetDirectoryName(Path.GetFullPath(invokedPath)) })
        {
            for (var dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                if (Path.GetFileName(dir) == "packages" && PackageNameOf(Path.Combine(dir, "@openai"), "codex.json") == PackageName)
                {
                    return "CODEX_MANAGED_BY_VITE_PLUS";
                }
                var modules = Path.Combine(dir, "node_modules");
                if (System.IO.File.Exists(Path.Combine(modules, ".modules.yaml")) && SamePath(Path.Combine(modules, "@openai", "codex"), packageRoot))
                {
                    return "CODEX_MANAGED_BY_PNPM";
                }
            }
        }
        var userAgent = System.Environment.GetEnvironmentVariable("npm_config_user_agent") ?? "";
        var execPath = System.Environment.GetEnvironmentVariable("npm_execpath") ?? "";
        return userAgent.Contains("bun/", StringComparison.Ordinal) || execPath.Contains("bun", StringComparison.Ordinal)
            || packageRoot.Contains("/.bun/install/global", StringComparison.Ordinal)
            ? "CODEX_MANAGED_BY_BUN"
            : "CODEX_MANAGED_BY_NPM";
    }

    private static bool SamePath(string path, string realPath)
    {
        try
        {
            return Directory.Exists(path) && RealPath(path) == realPath;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string? PackageNameOf(string dir, string file = "package.json")
    {
        try
        {
            using var json = JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(dir, file)));
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                ? name.GetString()
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The path with every symbolic link along it resolved, as Node sees a module's own location.</summary>
    private static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var resolved = root;
        var hops = 0;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            resolved = Path.Combine(resolved, part);
            if (new FileInfo(resolved).LinkTarget is not null)
            {
                if (++hops > 40)
                {
                    throw new IOException("too many levels of symbolic links");
                }
                resolved = new FileInfo(resolved).ResolveLinkTarget(returnFinalTarget: true) is { } target ? RealPath(target.FullName) : resolved;
            }
        }
        return resolved;
    }
}
