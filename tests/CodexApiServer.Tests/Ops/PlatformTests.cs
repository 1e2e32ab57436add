using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Tests.Ops;

/// <summary>The Windows and macOS answers of the per-OS path and argv logic, checked here on Linux.</summary>
public sealed class PlatformTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        name => values.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void The_default_data_dir_is_each_platforms_own_config_folder()
    {
        Assert.Equal("C:\\Users\\Me\\AppData\\Roaming\\codex-api-server",
            HostOs.Windows.DefaultDataDir(Env(("APPDATA", "C:\\Users\\Me\\AppData\\Roaming")), "C:\\Users\\Me"));
        Assert.Equal("C:\\Users\\Me\\AppData\\Roaming\\codex-api-server", HostOs.Windows.DefaultDataDir(Env(), "C:\\Users\\Me"));
        Assert.Equal("/Users/me/Library/Application Support/codex-api-server", HostOs.MacOS.DefaultDataDir(Env(("HOME", "/Users/me")), "/ignored"));
        Assert.Equal("/home/me/.config/codex-api-server", HostOs.Linux.DefaultDataDir(Env(("HOME", "/home/me")), "/ignored"));
        Assert.Equal("/xdg/codex-api-server", HostOs.Linux.DefaultDataDir(Env(("HOME", "/home/me"), ("XDG_CONFIG_HOME", "/xdg")), "/ignored"));
    }

    [Fact]
    public void On_windows_a_cli_is_found_by_PATHEXT_and_never_as_npms_extensionless_sh_script()
    {
        var files = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "C:\\Users\\Me\\AppData\\Roaming\\npm\\codex",      // the sh script npm writes for Git Bash
            "C:\\Users\\Me\\AppData\\Roaming\\npm\\codex.cmd",
            "C:\\Users\\Me\\AppData\\Roaming\\npm\\codex.ps1",
            "C:\\tools\\claude",
            "C:\\tools\\bin\\claude.exe",
        };
        const string Path = "C:\\Windows\\system32;\"C:\\tools\";C:\\Users\\Me\\AppData\\Roaming\\npm\\;C:\\tools\\bin";
        Assert.Equal("C:\\Users\\Me\\AppData\\Roaming\\npm\\codex.cmd", HostOs.Windows.FindOnPath("codex", Path, ".COM;.EXE;.BAT;.CMD;.VBS", files.Contains));
        Assert.Equal("C:\\tools\\bin\\claude.exe", HostOs.Windows.FindOnPath("claude", Path, null, files.Contains));
        Assert.Null(HostOs.Windows.FindOnPath("codex", Path, ".EXE", files.Contains));
        Assert.Equal("/usr/local/bin/codex", HostOs.Linux.FindOnPath("codex", "/usr/bin:/usr/local/bin", null, f => f == "/usr/local/bin/codex"));
    }

    // What npm 10's cmd-shim writes for a bin with a node shebang (codex.js) and for a native one (claude.exe).
    private const string NodeShim = "@ECHO off\r\nGOTO start\r\n:find_dp0\r\nSET dp0=%~dp0\r\nEXIT /b\r\n:start\r\nSETLOCAL\r\nCALL :find_dp0\r\n\r\n"
        + "IF EXIST \"%dp0%\\node.exe\" (\r\n  SET \"_prog=%dp0%\\node.exe\"\r\n) ELSE (\r\n  SET \"_prog=node\"\r\n  SET PATHEXT=%PATHEXT:;.JS;=;%\r\n)\r\n\r\n"
        + "endLocal & goto #_undefined_# 2>NUL || title %COMSPEC% & \"%_prog%\"  \"%dp0%\\node_modules\\@openai\\codex\\bin\\codex.js\" %*\r\n";

    private const string ExeShim = "@ECHO off\r\nGOTO start\r\n:find_dp0\r\nSET dp0=%~dp0\r\nEXIT /b\r\n:start\r\nSETLOCAL\r\nCALL :find_dp0\r\n"
        + "\"%dp0%\\node_modules\\@anthropic-ai\\claude-code\\bin\\claude.exe\"   %*\r\n";

    [Fact]
    public void An_npm_shim_is_started_as_its_target_not_through_cmd_exe()
    {
        Assert.True(NpmShim.IsBatch("C:\\npm\\codex.CMD"));
        Assert.False(NpmShim.IsBatch("C:\\npm\\claude.exe"));

        var (program, args) = NpmShim.Resolve("C:\\npm\\codex.cmd", NodeShim, _ => false)!.Value;
        Assert.Equal("node", program);
        Assert.Equal(["C:\\npm\\node_modules\\@openai\\codex\\bin\\codex.js"], args);

        (program, args) = NpmShim.Resolve("C:\\npm\\codex.cmd", NodeShim, f => f == "C:\\npm\\node.exe")!.Value;
        Assert.Equal("C:\\npm\\node.exe", program);

        (program, args) = NpmShim.Resolve("C:\\npm\\claude.cmd", ExeShim, _ => false)!.Value;
        Assert.Equal("C:\\npm\\node_modules\\@anthropic-ai\\claude-code\\bin\\claude.exe", program);
        Assert.Empty(args);

        Assert.Null(NpmShim.Resolve("C:\\x\\run.bat", "@echo off\r\nfoo.exe %*\r\n", _ => false));
    }

    [Fact]
    public void The_installed_npm_cli_is_the_program_the_shim_would_run()
    {
        // The real packages' bins, as cmd-shim would point at them: claude's is native, codex's a node script.
        var claude = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Support.RealClis.NodeModulesBin, "..", "@anthropic-ai", "claude-code", "package.json")))!;
        var codex = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Support.RealClis.NodeModulesBin, "..", "@openai", "codex", "package.json")))!;
        Assert.EndsWith(".exe", (string?)claude["bin"]!["claude"]);
        Assert.EndsWith(".js", (string?)codex["bin"]!["codex"]);
    }
}
