using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CodexApiServer.Providers;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CodexApiServer.Tests.Api;

/// <summary>One frame of a server-sent event stream as the bytes said it.</summary>
public sealed record SseFrame(string? Event, string? Data, bool IsComment);

public static class ApiServer
{
    // Both CLIs "installed" (a script that answers --version), so routing reaches the fake provider.
    private static readonly string FakeCliPath = FakeCli.Write("cli", "echo 1.0.0\n");

    /// <param name="config">extra config.json keys, merged over the defaults.</param>
    public static Task<TestServer> StartAsync(FakeProvider fake, string? config = null, TimeSpan? keepAlive = null, TimeSpan? cancelGrace = null, int maxQueueLength = 100, params ITurnProvider[] more)
    {
        var json = new JsonObject { ["codexPath"] = FakeCliPath, ["claudePath"] = FakeCliPath };
        if (config is not null)
        {
            foreach (var (key, value) in JsonNode.Parse(config)!.AsObject())
            {
                json[key] = value?.DeepClone();
            }
        }
        return TestServer.StartAsync(json.ToJsonString(), configureServices: services =>
        {
            // Only the fakes: the real providers are not even constructed.
            services.RemoveAll<ITurnProvider>();
            services.AddSingleton<ITurnProvider>(fake);
            foreach (var provider in more)
            {
                services.AddSingleton(provider);
            }
            services.AddSingleton(new StreamingOptions
            {
                KeepAliveInterval = keepAlive ?? TimeSpan.FromSeconds(15),
                CancelGrace = cancelGrace ?? TimeSpan.FromSeconds(10),
                MaxQueueLength = maxQueueLength,
            });
        });
    }

    public static async Task<HttpResponseMessage> PostAsync(this TestServer server, string path, string json, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        // SDKs send this even when streaming; the body's "stream" decides.
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    public static async Task<(HttpResponseMessage Response, string Raw, List<SseFrame> Frames)> StreamAsync(this TestServer server, string path, string json)
    {
        var response = await server.PostAsync(path, json);
        var raw = await response.Content.ReadAsStringAsync();
        return (response, raw, ParseSse(raw));
    }

    /// <summary>Splits a stream into frames, strictly: every frame ends with a blank line, every line is a field or a comment.</summary>
    public static List<SseFrame> ParseSse(string raw)
    {
        Assert.DoesNotContain("\r", raw);
        Assert.True(raw.Length == 0 || raw.EndsWith("\n\n", StringComparison.Ordinal), "the stream must end with a complete frame: " + raw[Math.Max(0, raw.Length - 200)..]);
        var frames = new List<SseFrame>();
        foreach (var block in raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? ev = null;
            string? data = null;
            var comment = false;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith(':'))
                {
                    comment = true;
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    Assert.Null(ev);
                    ev = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    Assert.Null(data);
                    data = line["data: ".Length..];
                }
                else
                {
                    Assert.Fail($"unexpected SSE line: {line}");
                }
            }
            frames.Add(new SseFrame(ev, data, comment && ev is null && data is null));
        }
        return frames;
    }

    public static async IAsyncEnumerable<TurnEvent> Events(params TurnEvent[] events)
    {
        foreach (var e in events)
        {
            await Task.Yield();
            yield return e;
        }
    }
}
