using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace CodexApiServer.Bench;

/// <summary>A streaming chat completion through any OpenAI-compatible server (ours in or out of process, or the peer).</summary>
public static class Chat
{
    public static JsonObject Body(string model, string prompt, bool stream = true) => new()
    {
        ["model"] = model,
        ["stream"] = stream,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
    };

    /// <summary>
    /// POST /v1/chat/completions of <paramref name="request"/> (stream:true); times the first chunk with
    /// non-empty delta.content and [DONE] (or the end of the stream, which the peer may send instead).
    /// </summary>
    /// <summary>
    /// Streams every request at once, each as soon as <paramref name="start"/> completes (at once without it):
    /// the time to first token of each that answered, and the first 200 characters of each error.
    /// </summary>
    public static async Task<(List<double> Firsts, List<string> Errors)> ConcurrentAsync(HttpClient http, IEnumerable<JsonObject> requests, Task? start = null)
    {
        var firsts = new List<double>();
        var errors = new List<string>();
        await Task.WhenAll(requests.Select(async request =>
        {
            if (start is not null)
            {
                await start;
            }
            try
            {
                var (first, _, _, _) = await StreamAsync(http, request);
                lock (firsts)
                {
                    firsts.Add(first);
                }
            }
            catch (Exception e)
            {
                lock (errors)
                {
                    errors.Add(e.Message.Length > 200 ? e.Message[..200] : e.Message);
                }
            }
        }).ToList());
        return (firsts, errors);
    }

    public static async Task<(double FirstMs, double TotalMs, string Text, string? RequestId)> StreamAsync(HttpClient http, JsonObject request, CancellationToken cancellationToken = default)
    {
        var body = request.ToJsonString();
        var clock = Stopwatch.StartNew();
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"chat completion failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
        var requestId = response.Headers.TryGetValues("x-request-id", out var ids) ? ids.FirstOrDefault() : null;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        double first = -1;
        var answer = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }
            var data = line[6..];
            if (data == "[DONE]")
            {
                return first >= 0 ? (first, clock.Elapsed.TotalMilliseconds, answer.ToString(), requestId) : throw new IOException("[DONE] without any content");
            }
            var chunk = JsonNode.Parse(data)!;
            if (chunk["error"] is { } error)
            {
                throw new InvalidOperationException("stream error: " + error.ToJsonString());
            }
            if (chunk["choices"]?.AsArray() is [{ } choice, ..] && (string?)choice["delta"]?["content"] is { Length: > 0 } content)
            {
                if (first < 0)
                {
                    first = clock.Elapsed.TotalMilliseconds;
                }
                answer.Append(content);
            }
        }
        throw new IOException("the stream ended without [DONE]");
    }

    public static double Percentile(IReadOnlyCollection<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>A free 127.0.0.1 port (bound once and released), for a process that wants a port number.</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
