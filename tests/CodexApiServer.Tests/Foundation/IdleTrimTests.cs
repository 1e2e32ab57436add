using System.Net;
using System.Text;
using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CodexApiServer.Tests.Foundation;

/// <summary>IdleTrim: memory that requests left committed is given back once the server goes quiet, and only then.</summary>
public sealed class IdleTrimTests
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(200);

    [Fact(Timeout = 30_000)]
    public async Task The_server_collects_once_after_requests_stop_and_never_while_one_runs_or_while_idle()
    {
        var trim = new IdleTrim(Period);
        await using var server = await TestServer.StartAsync(configureServices: s => s.AddSingleton(trim));
        Assert.Same(trim, server.App.Services.GetRequiredService<IdleTrim>());

        // No request yet: start-up collected as it began listening, nothing to give back.
        await Task.Delay(Period * 4);
        Assert.Equal(0, trim.Trims);

        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);
        await WaitForAsync(() => trim.Trims == 1);
        // Quiet from then on: once is enough.
        await Task.Delay(Period * 5);
        Assert.Equal(1, trim.Trims);

        // A request still running (its body arrives slowly) keeps it from collecting, however long it takes.
        using var slow = new SlowContent("""{"name": "idle-trim"}""", Period * 6);
        var running = server.Client.PostAsync("/v1/api-keys", slow);
        await slow.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(Period * 5);
        Assert.Equal(1, trim.Trims);
        Assert.Equal(HttpStatusCode.Created, (await running).StatusCode);
        await WaitForAsync(() => trim.Trims == 2);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(100);
        }
        Assert.True(condition());
    }

    /// <summary>A request body that waits <paramref name="delay"/> before its bytes.</summary>
    private sealed class SlowContent(string json, TimeSpan delay) : HttpContent
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            Started.TrySetResult();
            await Task.Delay(delay);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(json));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = Encoding.UTF8.GetByteCount(json);
            return true;
        }
    }
}
