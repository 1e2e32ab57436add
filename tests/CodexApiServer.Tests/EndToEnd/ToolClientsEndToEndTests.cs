using CodexApiServer.Tests.Support;
using Xunit.Abstractions;

namespace CodexApiServer.Tests.EndToEnd;

/// <summary>
/// Function calling (issue 12) as real client libraries do it, through our server and the real CLIs
/// to the mock model servers, which call the tools that the markers in the prompt name (<see cref="ToolScript"/>).
/// Each tests/node/tools-*-check.mjs script runs the tools the model called and checks the arguments
/// and the final answer; here we also check that every tool output it printed reached the mock
/// upstream as a tool result, in a request that declared the client's tools.
/// </summary>
[Collection(EndToEndGroup.Name)]
public sealed class ToolClientsEndToEndTests(RealStackFixture stack, ITestOutputHelper output) : IClassFixture<RealStackFixture>
{
    private static readonly string[] ToolNames = ["get_weather", "get_time"];

    /// <summary>chat.completions.runTools (parallel calls; streamed over two rounds) and the Responses loop by hand (previous_response_id, store:false, streamed).</summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public Task The_openai_sdk_runs_the_tools_the_model_calls_over_chat_and_responses(string model) =>
        RunAsync("tools-openai-check.mjs", model, checks: 5);

    /// <summary>generateText and streamText with executed tools over several steps, through openai.responses and openai.chat.</summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public Task The_vercel_ai_sdk_runs_tools_over_several_steps(string model) =>
        RunAsync("tools-vercel-check.mjs", model, checks: 4);

    /// <summary>ChatOpenAI.bindTools: AIMessage.tool_calls, ToolMessage, invoke again; over chat and useResponsesApi; a streamed first step.</summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public Task Langchain_bound_tools_round_trip_through_tool_messages(string model) =>
        RunAsync("tools-langchain-check.mjs", model, checks: 4);

    /// <summary>An @openai/agents Agent with function tools run to its final output, over the Responses model (also streamed) and the chat model.</summary>
    [Theory(Timeout = 240_000)]
    [InlineData(RealStackFixture.CodexModel)]
    [InlineData(RealStackFixture.ClaudeModel)]
    public Task The_openai_agents_sdk_runs_function_tools(string model) =>
        RunAsync("tools-agents-check.mjs", model, checks: 3);

    private async Task RunAsync(string script, string model, int checks)
    {
        stack.ResetMocks();
        var before = Upstream.Count(stack, model);
        var path = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(RealClis.NodeModulesBin))!, script);

        var (exitCode, text) = await NodeScript.RunAsync(path, [stack.Server.Client.BaseAddress!.ToString(), model], TimeSpan.FromSeconds(220));

        output.WriteLine(text);
        NodeScript.AssertPassed(exitCode, text, script);
        Assert.Contains($"{checks}/{checks} checks passed", text);
        Upstream.AssertToolRunsReached(stack, model, before, text, ToolNames);
    }
}
