using System.Text.Json;
using CodexApiServer.Providers.Codex;

namespace CodexApiServer.Tests.Providers;

/// <summary>account/read answers of codex 0.169 (its generated schema, v2/GetAccountResponse.json) as the login state /health shows.</summary>
public sealed class CodexAccountTests
{
    [Theory]
    [InlineData("""{"account":{"type":"chatgpt","email":"a@b.c","planType":"plus"},"requiresOpenaiAuth":true}""", "logged in with ChatGPT (plus)", true)]
    [InlineData("""{"account":{"type":"apiKey"},"requiresOpenaiAuth":true}""", "logged in with an OpenAI API key", true)]
    [InlineData("""{"account":null,"userId":null,"requiresOpenaiAuth":false}""", "API key provider", true)]
    [InlineData("""{"account":null,"userId":null,"requiresOpenaiAuth":true}""", "not logged in", false)]
    public void Account_read_is_told_apart(string result, string login, bool loggedIn)
    {
        using var doc = JsonDocument.Parse(result);
        Assert.Equal((login, loggedIn), CodexProtocol.ReadAccount(doc.RootElement));
    }

    [Theory]
    [InlineData("""Codex refused the request: {"detail":"Instructions are not valid"}""", true)]
    [InlineData("""{"detail":"Instructions are required"}""", true)]
    [InlineData("""{"detail":"The 'x' model is not supported"}""", false)]
    public void Refused_instructions_are_recognised(string message, bool refused) =>
        Assert.Equal(refused, CodexProtocol.IsInstructionsRefused(message));
}
