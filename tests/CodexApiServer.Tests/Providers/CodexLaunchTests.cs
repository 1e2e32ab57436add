using System.Runtime.InteropServices;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>Finding codex's native binary behind the npm wrapper as `bin/codex.js` does, on package layouts built on disk.</summary>
public sealed class CodexLaunchTests : IDisposable
{
    private readonly string _root = TempDir.Create("codex-launch");

    private static (string Triple, string Package) Target => RuntimeInformation.ProcessArchitecture == Architecture.Arm64
        ? ("aarch64-unknown-linux-musl", "codex-linux-arm64")
        : ("x86_64-unknown-linux-musl", "codex-linux-x64");

    public void Dispose() => TempDir.Delete(_root);

    /// <summary>node_modules/@openai/codex with its wrapper, and node_modules/.bin/codex linked to it as npm does; returns the .bin path.</summary>
    private string Wrapper(string under)
    {
        var package = Path.Combine(under, "node_modules", "@openai", "codex");
        Directory.CreateDirectory(Path.Combine(package, "bin"));
        File.WriteAllText(Path.Combine(package, "package.json"), """{"name": "@openai/codex", "version": "0.169.0"}""");
        File.WriteAllText(Path.Combine(package, "bin", "codex.js"), "// wrapper");
        var bin = Path.Combine(under, "node_modules", ".bin");
        Directory.CreateDirectory(bin);
        File.CreateSymbolicLink(Path.Combine(bin, "codex"), "../@openai/codex/bin/codex.js");
        return Path.Combine(bin, "codex");
    }

    private static string Binary(string vendorParent)
    {
        var dir = Path.Combine(vendorParent, "vendor", Target.Triple, "bin");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "codex"), "");
        return Path.Combine(dir, "codex");
    }

    [Fact]
    public void The_platform_package_binary_is_started_with_the_wrappers_variables_and_ours_on_top()
    {
        var wrapper = Wrapper(_root);
        var binary = Binary(Path.Combine(_root, "node_modules", "@openai", Target.Package));
        File.WriteAllText(Path.Combine(_root, "node_modules", "@openai", Target.Package, "package.json"), "{}");

        var launch = CodexLaunch.For(wrapper, new Dictionary<string, string?> { ["CODEX_HOME"] = "/x", ["CODEX_MANAGED_BY_NPM"] = "mine" });

        Assert.True(launch.Native);
        Assert.Equal(binary, launch.File);
        Assert.Equal(Path.Combine(_root, "node_modules", "@openai", "codex"), launch.Environment!["CODEX_MANAGED_PACKAGE_ROOT"]);
        Assert.Equal("/x", launch.Environment["CODEX_HOME"]);
        Assert.Equal("mine", launch.Environment["CODEX_MANAGED_BY_NPM"]);
        // Inherited markers of another package manager are removed, as the wrapper deletes them.
        Assert.True(launch.Environment.ContainsKey("CODEX_MANAGED_BY_PNPM"));
        Assert.Null(launch.Environment["CODEX_MANAGED_BY_PNPM"]);
    }

    [Fact]
    public void Without_the_platform_package_the_wrappers_own_vendor_folder_is_used()
    {
        var wrapper = Wrapper(_root);
        var binary = Binary(Path.Combine(_root, "node_modules", "@openai", "codex"));

        var launch = CodexLaunch.For(wrapper, null);

        Assert.True(launch.Native);
        Assert.Equal(binary, launch.File);
        Assert.Equal("1", launch.Environment!["CODEX_MANAGED_BY_NPM"]);
    }

    [Fact]
    public void A_pnpm_install_is_told_apart_as_the_wrapper_does()
    {
        var wrapper = Wrapper(_root);
        Binary(Path.Combine(_root, "node_modules", "@openai", "codex"));
        File.WriteAllText(Path.Combine(_root, "node_modules", ".modules.yaml"), "");

        var launch = CodexLaunch.For(wrapper, null);

        Assert.Equal("1", launch.Environment!["CODEX_MANAGED_BY_PNPM"]);
        Assert.Null(launch.Environment["CODEX_MANAGED_BY_NPM"]);
    }

    [Fact]
    public void Without_the_binary_or_the_wrapper_the_configured_path_is_started_as_it_is()
    {
        var wrapper = Wrapper(_root);
        var environment = new Dictionary<string, string?> { ["CODEX_HOME"] = "/x" };

        var fake = CodexHarness.FakeCodexPath();

        Assert.Equal(new CodexLaunch(wrapper, environment, false), CodexLaunch.For(wrapper, environment));
        Assert.Equal(new CodexLaunch(fake, environment, false), CodexLaunch.For(fake, environment));
    }
}
