using System.Diagnostics;

namespace CodexApiServer.Providers.Codex;

/// <summary>A Codex thread loaded in the app-server: one conversation, one turn at a time.</summary>
internal sealed class CodexThread(string threadId, string scratchDir, string? toolsDigest = null, bool ephemeral = false)
{
    public string ThreadId { get; } = threadId;

    /// <summary>The thread's working folder in chat mode, removed with it.</summary>
    public string ScratchDir { get; } = scratchDir;

    /// <summary>The client tools the thread declared at its start (<see cref="ToolDefinition.Digest"/>; null: none): fixed for its life.</summary>
    public string? ToolsDigest { get; } = toolsDigest;

    /// <summary>Kept in codex's memory only (<see cref="CodexThreadSettings.Ephemeral"/>): once its app-server is gone, so is it.</summary>
    public bool Ephemeral { get; } = ephemeral;

    /// <summary>Held while a turn runs on the thread (and while it waits for the client's tool results).</summary>
    public SemaphoreSlim Lock { get; } = new(1, 1);

    /// <summary>The app-server start the thread is loaded in; another one must resume it first.</summary>
    public int Generation { get; set; }

    public long LastUsed { get; set; } = Stopwatch.GetTimestamp();

    /// <summary>Unloaded: a turn that waited for it resolves the session again.</summary>
    public volatile bool Ended;
}
