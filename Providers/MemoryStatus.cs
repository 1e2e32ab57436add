namespace CodexApiServer.Providers;

public sealed record MemoryStatus(long BudgetMb, double UsedMb, IReadOnlyList<CliProcessStatus> Processes);
