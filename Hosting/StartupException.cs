namespace CodexApiServer.Hosting;

/// <summary>A problem the user can fix; printed as one line, never as a stack trace.</summary>
public sealed class StartupException(string message) : Exception(message);
