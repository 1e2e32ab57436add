using CodexApiServer.Children;

namespace CodexApiServer.Providers.Codex;

/// <summary>How the provider runs the Codex CLI: "app-server" (one long-lived process) or "exec" (one process per turn).</summary>
internal static class CodexMode
{
    public const string AppServer = "app-server";
    public const string Exec = "exec";

    /// <summary>
    /// `codex app-server` on a CLI without it could start something else (the TUI takes a
    /// prompt argument), so ask the help text which subcommands exist.
    /// </summary>
    public static async Task<string> DetectAsync(ChildProcesses children, CodexLaunch codex, CancellationToken cancellationToken)
    {
        var mode = AppServer;
        using var help = children.Start(codex.File, ["--help"], null, codex.Environment, redirectStdin: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var stderr = help.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            var text = await help.StandardOutput.ReadToEndAsync(timeout.Token);
            await help.WaitForExitAsync(timeout.Token);
            if (help.ExitCode == 0 && !text.Contains("app-server", StringComparison.Ordinal))
            {
                mode = Exec;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer in time: try app-server, which reports its own failure if any.
        }
        finally
        {
            children.End(help);
            _ = stderr.ContinueWith(static _ => { }, TaskScheduler.Default);
        }
        return mode;
    }
}
