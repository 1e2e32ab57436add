using CodexApiServer.Providers;

namespace CodexApiServer.Tests.Providers;

public sealed class CodexProtocolTests
{
    [Theory]
    [InlineData("unexpected status 401 Unauthorized: bad key, url: http://10.0.0.5:4000/v1/responses", "unexpected status 401 Unauthorized: bad key")]
    [InlineData("unexpected status 500: busy, url: https://llm.internal/v1/responses, request id: req_1", "unexpected status 500: busy, request id: req_1")]
    [InlineData("Reconnecting... 2/5 (unexpected status 502, url: http://10.0.0.5/v1/responses)", "Reconnecting... 2/5 (unexpected status 502)")]
    [InlineData("stream disconnected before completion", "stream disconnected before completion")]
    public void Upstream_messages_lose_the_model_servers_url(string message, string expected) =>
        Assert.Equal(expected, CodexProtocol.WithoutUrl(message));
}
