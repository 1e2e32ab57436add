namespace CodexApiServer.Providers;

public enum ToolChoiceMode
{
    /// <summary>The model decides.</summary>
    Auto,

    /// <summary>No tool may be called: a new session is started with no tools declared.</summary>
    None,

    /// <summary>The model must call at least one tool.</summary>
    Required,

    /// <summary>The model must call <see cref="ToolChoice.Name"/>.</summary>
    Named,
}

/// <summary>
/// The request's tool_choice. Neither CLI has a switch for it, so it travels as a line of instruction
/// added to the turn's input (<see cref="Instruction"/>), and `none` also by declaring no tools on a new session.
/// </summary>
public sealed record ToolChoice(ToolChoiceMode Mode, string? Name = null)
{
    public static readonly ToolChoice Auto = new(ToolChoiceMode.Auto);

    /// <summary>The line added to the turn's input for this choice and parallel_tool_calls, or null when nothing needs saying.</summary>
    public static string? Instruction(TurnRequest request)
    {
        if (request.Tools is not { Count: > 0 })
        {
            return null;
        }
        var choice = request.ToolChoice ?? Auto;
        var line = choice.Mode switch
        {
            ToolChoiceMode.None => "Do not call any tool for this message; answer in text.",
            ToolChoiceMode.Required => "You must call at least one of the available tools before answering.",
            ToolChoiceMode.Named => $"You must call the tool `{choice.Name}` before answering.",
            _ => null,
        };
        if (!request.ParallelToolCalls && choice.Mode != ToolChoiceMode.None)
        {
            line = (line is null ? "" : line + " ") + "Call at most one tool at a time.";
        }
        return line is null ? null : "[tool instructions: " + line + "]";
    }
}
