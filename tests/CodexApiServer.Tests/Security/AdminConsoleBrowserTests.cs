using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Security;

public sealed class AdminConsoleBrowserTests
{
    [Fact]
    public async Task An_operator_can_read_status_manage_keys_tail_logs_and_save_settings_in_a_real_browser()
    {
        await using var server = await TestServer.StartAsync();
        var (exit, output) = await NodeScript.RunAsync("console-check.mjs", [server.BaseAddress.ToString().TrimEnd('/')], TimeSpan.FromSeconds(90));
        Assert.True(exit == 0, output);
        Assert.Contains("console-check: ok", output);
    }
}
