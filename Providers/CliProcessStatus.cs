namespace CodexApiServer.Providers;

/// <summary>What /health shows of one CLI process.</summary>
public sealed record CliProcessStatus(int Pid, string Cli, string Role, double RssMb);
