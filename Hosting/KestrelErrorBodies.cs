using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using CodexApiServer.Endpoints;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CodexApiServer.Hosting;

/// <summary>
/// Kestrel answers a request it cannot parse (bad request line or headers, a URL or headers over its
/// limits) itself, with an empty body, before any middleware runs, and has no hook to change that.
/// So this connection middleware watches what Kestrel writes and gives exactly those responses an
/// OpenAI error body: an error status, <c>Content-Length: 0</c> and <c>Connection: close</c> in one
/// header block with nothing after it. Our own errors always have a body, so they never match.
/// </summary>
public static class KestrelErrorBodies
{
    public static void UseKestrelErrorBodies(this ListenOptions listen) =>
        listen.Use(next => connection =>
        {
            connection.Transport = new Duplex(connection.Transport.Input, new Writer(connection.Transport.Output));
            return next(connection);
        });

    private static ReadOnlySpan<byte> EmptyLength => "\r\nContent-Length: 0"u8;

    /// <summary>The response with an error body, when <paramref name="written"/> is one of Kestrel's bodiless error responses; otherwise null.</summary>
    internal static byte[]? WithBody(ReadOnlySpan<byte> written)
    {
        if (written.Length < 32 || !written.StartsWith("HTTP/1.1 "u8) || written[9] is not ((byte)'4' or (byte)'5')
            || written.IndexOf("\r\n\r\n"u8) != written.Length - 4
            || written.IndexOf("\r\nConnection: close\r\n"u8) < 0)
        {
            return null;
        }
        var lengthAt = written.IndexOf("\r\nContent-Length: 0\r\n"u8);
        if (lengthAt < 0 || !int.TryParse(written[9..12], out var status))
        {
            return null;
        }
        var (message, code) = OpenAIErrors.ForStatus(status);
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new ErrorBody(new ErrorDetail(message, status is >= 500 and not 505 ? "server_error" : "invalid_request_error", null, code)), ApiJsonContext.Wire.ErrorBody);
        var headers = Encoding.ASCII.GetBytes($"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}");
        return [.. written[..lengthAt], .. headers, .. written[(lengthAt + EmptyLength.Length)..], .. body];
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>Passes everything through to the transport, looking only at the start of each write.</summary>
    private sealed class Writer(PipeWriter inner) : PipeWriter
    {
        private Memory<byte> _memory;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _memory = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if (bytes >= 32 && _memory.Span[0] == (byte)'H' && WithBody(_memory.Span[..bytes]) is { } replaced)
            {
                // Nothing is committed before Advance: ask again, for room for the longer response.
                replaced.CopyTo(inner.GetMemory(replaced.Length));
                inner.Advance(replaced.Length);
                return;
            }
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(source, cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}
