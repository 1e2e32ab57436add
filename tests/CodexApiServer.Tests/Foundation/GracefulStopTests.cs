using System.Diagnostics;
using CodexApiServer.Children;
using CodexApiServer.Tests.Providers;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace CodexApiServer.Tests.Foundation;

/// <summary>
/// How the server ends a child: SIGTERM to it and what it started, a bounded wait, then a kill of
/// whatever is left. The fakes' SIGTERM traps write a marker file, so a test sees the signal arrive.
/// </summary>
public sealed class GracefulStopTests : IDisposable
{
    private readonly string _dir = TempDir.Create("graceful-stop");
    private readonly ChildProcesses _children = new(NullLogger<ChildProcesses>.Instance);

    public void Dispose()
    {
        _children.Dispose();
        TempDir.Delete(_dir);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_CLI_that_exits_on_SIGTERM_ends_at_once_by_its_own_trap_not_a_kill()
    {
        var marker = Path.Combine(_dir, "term");
        // The trap runs once the foreground sleep ends: it ends at once only because it gets SIGTERM too.
        var cli = FakeCli.Write("polite", $"trap 'echo TERM > \"{marker}\"; exit 7' TERM\necho ready\nwhile :; do sleep 1; done\n");
        using var process = await StartReadyAsync(cli);

        var clock = Stopwatch.StartNew();
        _children.End(process);
        await process.WaitForExitAsync();

        Assert.True(clock.Elapsed < ChildProcesses.StopGrace / 2, $"took {clock.Elapsed}");
        Assert.Equal(7, process.ExitCode); // its own exit code: a SIGKILL would show 137
        Assert.Equal("TERM", File.ReadAllText(marker).Trim());
    }

    [Fact(Timeout = 30_000)]
    public async Task A_CLI_that_traps_SIGTERM_and_stays_is_killed_with_its_child_after_the_grace_period_without_blocking_the_caller()
    {
        var marker = Path.Combine(_dir, "term");
        var childPid = Path.Combine(_dir, "child");
        // The child ignores SIGTERM as well (an ignored signal stays ignored across exec).
        var cli = FakeCli.Write("stubborn", $"""
            trap 'echo TERM >> "{marker}"' TERM
            sh -c 'trap "" TERM; exec sleep 300' &
            echo $! > "{childPid}"
            echo ready
            while :; do sleep 1; done

            """);
        using var process = await StartReadyAsync(cli);
        var child = int.Parse(File.ReadAllText(childPid).Trim());
        Assert.True(ClaudeTestHarness.IsAlive(child));

        var clock = Stopwatch.StartNew();
        _children.End(process);
        var returned = clock.Elapsed;
        await process.WaitForExitAsync().WaitAsync(ChildProcesses.StopGrace + TimeSpan.FromSeconds(5));
        var ended = clock.Elapsed;

        // A turn cancel calls End on a request thread: it must not wait out the grace period there.
        Assert.True(returned < ChildProcesses.StopGrace / 4, $"End took {returned}");
        Assert.True(ended >= ChildProcesses.StopGrace * 0.9, $"ended after {ended}, before the grace period was over");
        Assert.Equal(137, process.ExitCode);
        Assert.StartsWith("TERM", File.ReadAllText(marker));
        for (var i = 0; i < 100 && ClaudeTestHarness.IsAlive(child); i++)
        {
            await Task.Delay(20);
        }
        Assert.False(ClaudeTestHarness.IsAlive(child), "the child that ignores SIGTERM outlived the kill");
    }

    private async Task<Process> StartReadyAsync(string cli)
    {
        var process = _children.Start(cli, []);
        // The traps are set once it says so: a signal before that would meet the default action.
        Assert.Equal("ready", await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        return process;
    }
}
