using System.Diagnostics;

namespace CodexApiServer.Service;

/// <summary>Runs a system tool (systemctl, launchctl, schtasks, ...) from an argv array, never through a shell.</summary>
public static class SystemCommand
{
    /// <summary>Runs to its end and returns the exit code with stdout and stderr together; -1 when the tool is not there.</summary>
    public static (int ExitCode, string Output) Run(IReadOnlyList<string> argv, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in argv.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        try
        {
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"{argv[0]} did not finish in time");
            }
            return (process.ExitCode, (stdout + stderr.Result).Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{argv[0]}: {e.Message}");
        }
    }

    /// <summary>Runs with the terminal's own output (a log viewer), returning its exit code.</summary>
    public static int RunAttached(IReadOnlyList<string> argv)
    {
        var info = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
        foreach (var arg in argv.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }
        try
        {
            using var process = Process.Start(info)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"{argv[0]}: {e.Message}");
            return 1;
        }
    }
}
