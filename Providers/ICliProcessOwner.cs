namespace CodexApiServer.Providers;

/// <summary>A provider whose processes count toward the memory budget.</summary>
public interface ICliProcessOwner
{
    IReadOnlyList<CliProcessEntry> CliProcesses();

    /// <summary>Ends the process if it is still idle, to give its memory back; false when it is busy again or gone.</summary>
    bool EndIdle(int pid);

    /// <summary>Whether this turn would start a process (a new or resumed conversation), as far as can be told now.</summary>
    bool NeedsNewProcess(TurnRequest request);
}
