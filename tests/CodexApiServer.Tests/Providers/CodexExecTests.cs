using System.Text;
using System.Text.Json;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;

namespace CodexApiServer.Tests.Providers;

/// <summary>The `codex exec --json` fallback's argv, prompt and output lines (as fake-codex.mjs writes them): no process.</summary>
public sealed class CodexExecTests
{
    private static readonly ModelEntry Model = new("gpt-5.2-codex", ProviderKind.Codex, 0, "gpt-5.2-codex");

    private static IReadOnlyList<TurnEvent> Decode(string line) => CodexExec.Decode(Encoding.UTF8.GetBytes(line));

    [Fact]
    public void A_chat_turn_runs_read_only_in_the_scratch_folder_with_the_prompt_on_stdin()
    {
        var args = CodexExec.Arguments(new ServerConfig(), new TurnRequest(Model, null, [TurnMessage.User("hi")]), "/data/scratch/codex-1", null);
        Assert.Equal(["exec", "--json", "--skip-git-repo-check", "-s", "read-only", "-C", "/data/scratch/codex-1", "-m", "gpt-5.2-codex", "-"], args);
    }

    [Fact]
    public void Effort_and_output_schema_come_before_the_stdin_marker()
    {
        using var schema = JsonDocument.Parse("""{"type":"object"}""");
        var request = new TurnRequest(Model, null, [TurnMessage.User("hi")], "high", schema.RootElement);
        var args = CodexExec.Arguments(new ServerConfig(), request, "/s", "/s/output-schema.json");
        Assert.Equal(["-c", "model_reasoning_effort=\"high\"", "--output-schema", "/s/output-schema.json", "-"], args[^5..]);
    }

    [Fact]
    public void An_agent_turn_writes_in_the_configured_folder()
    {
        var config = new ServerConfig { Mode = "agent", AgentWorkingDirectory = "/srv/work" };
        var args = CodexExec.Arguments(config, new TurnRequest(Model, null, [TurnMessage.User("hi")]), "/s", null);
        Assert.Equal(["exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "-C", "/srv/work", "-m", "gpt-5.2-codex", "-"], args);
    }

    [Fact]
    public void The_prompt_puts_the_instructions_first()
    {
        Assert.Equal("hi", CodexExec.Prompt(new TurnRequest(Model, null, [TurnMessage.User("hi")])));
        Assert.Equal("[system]: Be brief.\n\n[user]: hi", CodexExec.Prompt(new TurnRequest(Model, "Be brief.", [TurnMessage.User("hi")])));
    }

    [Fact]
    public void Agent_messages_and_reasoning_are_text_and_reasoning()
    {
        Assert.Equal([new TextDelta("exec says: hi")], Decode("""{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"exec says: hi"}}"""));
        Assert.Equal([new ReasoningDelta("hmm")], Decode("""{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"hmm"}}"""));
        Assert.Empty(Decode("""{"type":"item.completed","item":{"id":"item_2","type":"command_execution","text":"ls"}}"""));
    }

    [Fact]
    public void A_completed_turn_reports_its_usage_then_stops_without_a_session()
    {
        var events = Decode("""{"type":"turn.completed","usage":{"input_tokens":7,"cached_input_tokens":1,"output_tokens":3,"reasoning_output_tokens":0}}""");
        Assert.Equal([new TurnEnded(TurnEndReason.Stop, null, new TokenUsage(7, 3, 1, 0))], events);
    }

    [Fact]
    public void A_refused_credential_fails_the_turn_at_once()
    {
        var failed = TurnEvents.Failure(Assert.Single(Decode("""{"type":"error","message":"Reconnecting... 1/5 (unexpected status 401 Unauthorized: bad key)"}""")));
        Assert.Equal(ProviderErrorKind.NotAuthenticated, failed.Kind);
        Assert.Empty(Decode("""{"type":"error","message":"Reconnecting... 1/5 (stream disconnected)"}"""));
    }

    [Theory]
    [InlineData("The model `gpt-9` does not exist or you do not have access to it.", ProviderErrorKind.ModelNotFound)]
    [InlineData("unexpected status 401 Unauthorized: bad key", ProviderErrorKind.NotAuthenticated)]
    [InlineData("unexpected status 500: busy, url: http://10.0.0.5/v1/responses", ProviderErrorKind.Upstream)]
    public void A_failed_turn_is_classified(string message, ProviderErrorKind kind)
    {
        var failed = TurnEvents.Failure(Assert.Single(Decode($$$"""{"type":"turn.failed","error":{"message":"{{{message}}}"}}""")));
        Assert.Equal(kind, failed.Kind);
        Assert.DoesNotContain("10.0.0.5", failed.Message);
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("""{"type":"thread.started","thread_id":"exec-thread"}""")]
    [InlineData("""{"type":"turn.started"}""")]
    public void Other_lines_carry_nothing(string line) => Assert.Empty(Decode(line));
}
