using System.Security;
using System.Text;

namespace CodexApiServer.Service;

/// <summary>
/// Windows: a Task Scheduler task that starts at your logon, as you. Not a Windows service: a service
/// runs as LocalSystem or a service account, without your profile, where the npm-installed CLIs
/// (%APPDATA%\npm) and their logins (%USERPROFILE%\.codex, .claude) are not. The task is defined in
/// XML because only that form sets restart-on-failure and lifts the default 72-hour run limit.
/// </summary>
public static class WindowsLogonTask
{
    public const string TaskName = ServiceSpec.Name;

    public static string Render(ServiceSpec spec, string userId)
    {
        static string E(string value) => SecurityElement.Escape(value);
        var text = new StringBuilder();
        text.Append("""
            <?xml version="1.0" encoding="UTF-16"?>
            <Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
              <RegistrationInfo>
                <Description>Codex API Server (OpenAI-compatible API over the codex and claude CLIs)</Description>
              </RegistrationInfo>
              <Triggers>
                <LogonTrigger>
                  <Enabled>true</Enabled>

            """);
        text.Append("      <UserId>").Append(E(userId)).Append("</UserId>\n");
        text.Append("""
                </LogonTrigger>
              </Triggers>
              <Principals>
                <Principal id="Author">

            """);
        text.Append("      <UserId>").Append(E(userId)).Append("</UserId>\n");
        text.Append("""
                  <LogonType>InteractiveToken</LogonType>
                  <RunLevel>LeastPrivilege</RunLevel>
                </Principal>
              </Principals>
              <Settings>
                <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
                <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
                <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
                <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
                <RestartOnFailure>
                  <Interval>PT1M</Interval>
                  <Count>999</Count>
                </RestartOnFailure>
                <Enabled>true</Enabled>
              </Settings>
              <Actions Context="Author">
                <Exec>

            """);
        text.Append("      <Command>").Append(E(spec.Command[0])).Append("</Command>\n");
        if (spec.Command.Count > 1)
        {
            text.Append("      <Arguments>").Append(E(string.Join(' ', spec.Command.Skip(1).Select(QuoteArgument)))).Append("</Arguments>\n");
        }
        text.Append("""
                </Exec>
              </Actions>
            </Task>

            """);
        return text.ToString();
    }

    /// <summary>One argument as the C runtime's command-line parser reads it back (the rules ProcessStartInfo.ArgumentList follows).</summary>
    public static string QuoteArgument(string arg)
    {
        if (arg.Length > 0 && !arg.Any(c => c is ' ' or '\t' or '"'))
        {
            return arg;
        }
        var text = new StringBuilder("\"");
        var backslashes = 0;
        foreach (var c in arg)
        {
            if (c == '\\')
            {
                backslashes++;
                continue;
            }
            text.Append('\\', c == '"' ? backslashes * 2 + 1 : backslashes).Append(c);
            backslashes = 0;
        }
        return text.Append('\\', backslashes * 2).Append('"').ToString();
    }

    public static string[] Create(string xmlPath) => ["schtasks", "/Create", "/F", "/TN", TaskName, "/XML", xmlPath];

    public static string[] Run() => ["schtasks", "/Run", "/TN", TaskName];

    public static string[] End() => ["schtasks", "/End", "/TN", TaskName];

    public static string[] Delete() => ["schtasks", "/Delete", "/F", "/TN", TaskName];

    public static string[] Query() => ["schtasks", "/Query", "/TN", TaskName, "/FO", "CSV", "/NH"];

    /// <summary>The Status column of `schtasks /Query /FO CSV /NH`: "Running", "Ready", "Disabled" (English Windows).</summary>
    public static bool IsRunning(string queryOutput) => queryOutput.Contains("\"Running\"", StringComparison.OrdinalIgnoreCase);
}
