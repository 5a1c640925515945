using System.Diagnostics;
using System.Net;
using System.Threading.Channels;

namespace Gorgo.Proxy;

/// <summary>
/// Emulates a wide-area link in front of an HTTP backend: the request leaves half the RTT late, the response headers
/// arrive half the RTT after the backend sent them, and so does every piece of the streamed body: latency, not a
/// one-off cost, as over a real link (a token sent at time t reaches the proxy at t + RTT/2).
/// </summary>
public sealed class WanDelayHandler(double rttMs, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>The emulated RTT.</summary>
    public double RttMs { get; } = rttMs;

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        TimeSpan half = TimeSpan.FromMilliseconds(RttMs / 2);
        await Task.Delay(half, cancellationToken).ConfigureAwait(false);
        HttpResponseMessage response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (half > TimeSpan.Zero)
        {
            // Start reading the body now, while the headers are "in flight": a piece the backend sends with or right
            // after its headers must arrive half the RTT after it was sent, not half the RTT after the headers arrived.
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            response.Content = new DelayedContent(response.Content, new DelayedStream(body, half));
            try
            {
                await Task.Delay(half, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                response.Dispose();
                throw;
            }
        }

        return response;
    }

    /// <summary>A response body whose bytes become readable half the RTT after the backend sent them.</summary>
    private sealed class DelayedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly DelayedStream _body;

        public DelayedContent(HttpContent inner, DelayedStream body)
        {
            _inner = inner;
            _body = body;
            foreach (KeyValuePair<string, IEnumerable<string>> header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => Task.FromResult<Stream>(_body);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using Stream source = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
            await source.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _body.Dispose();
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Reads the backend's stream as it arrives (from construction on) and hands each piece on once it is <c>delay</c> old.</summary>
    private sealed class DelayedStream : Stream
    {
        private readonly Stream _source;
        private readonly TimeSpan _delay;
        private readonly Channel<(byte[] Data, int Length, long ArrivedAt)> _pieces = Channel.CreateUnbounded<(byte[], int, long)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        private readonly CancellationTokenSource _stop = new();
        private ReadOnlyMemory<byte> _current;
        private int _disposed;

        public DelayedStream(Stream source, TimeSpan delay)
        {
            _source = source;
            _delay = delay;
            _ = Task.Run(PumpAsync);
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_current.IsEmpty)
            {
                // A transport error of the backend's stream completes the channel with it, and surfaces here.
                if (!await _pieces.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_pieces.Reader.TryRead(out var piece))
                {
                    return 0;
                }

                TimeSpan wait = _delay - Stopwatch.GetElapsedTime(piece.ArrivedAt);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }

                _current = piece.Data.AsMemory(0, piece.Length);
            }

            int n = Math.Min(buffer.Length, _current.Length);
            _current[..n].CopyTo(buffer);
            _current = _current[n..];
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            // Disposed by the reader and again by the response: only the first time counts.
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _stop.Cancel();
                _source.Dispose();
            }

            base.Dispose(disposing);
        }

        private async Task PumpAsync()
        {
            try
            {
                while (true)
                {
                    byte[] data = new byte[16 * 1024];
                    int n = await _source.ReadAsync(data, _stop.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    _pieces.Writer.TryWrite((data, n, Stopwatch.GetTimestamp()));
                }

                _pieces.Writer.TryComplete();
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                _pieces.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                _pieces.Writer.TryComplete(ex);
            }
        }
    }
}
