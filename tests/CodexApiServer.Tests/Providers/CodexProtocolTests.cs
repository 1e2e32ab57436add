using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Providers;

public sealed class CodexProtocolTests
{
    [Theory]
    [InlineData("unexpected status 401 Unauthorized: bad key, url: http://10.0.0.5:4000/v1/responses", "unexpected status 401 Unauthorized: bad key")]
    [InlineData("unexpected status 500: busy, url: https://llm.internal/v1/responses, request id: req_1", "unexpected status 500: busy, request id: req_1")]
    [InlineData("Reconnecting... 2/5 (unexpected status 502, url: http://10.0.0.5/v1/responses)", "Reconnecting... 2/5 (unexpected status 502)")]
    [InlineData("stream disconnected before completion", "stream disconnected before completion")]
    [InlineData("error sending request for url (http://127.0.0.1:9/v1/responses)", "error sending request for url ((address removed))")]
    [InlineData("API Error: connect ECONNREFUSED 10.1.2.3:8443 and 192.168.0.1", "API Error: connect ECONNREFUSED (address removed) and (address removed)")]
    [InlineData("codex 0.169.0 on gpt-5.2 is at version 1.2.3.4.5", "codex 0.169.0 on gpt-5.2 is at version 1.2.3.4.5")]
    public void Upstream_messages_lose_the_model_servers_address(string message, string expected) =>
        Assert.Equal(expected, ErrorText.WithoutAddresses(message));
}
