using System.Collections.Concurrent;
using System.Diagnostics;
using NetMQ;
using NetMQ.Sockets;

namespace Gorgo.Replica.KvEvents;

/// <summary>
/// Publishes KV event batches as vLLM's <c>ZmqEventPublisher</c> does: each batch on a PUB socket as (topic, 8-byte
/// big-endian sequence number, msgpack payload), the last <see cref="BufferedBatches"/> kept for a ROUTER socket that
/// replays them on request, ending each replay with sequence -1 and an empty payload.
/// </summary>
/// <remarks>ZeroMQ sockets belong to one thread: a dedicated thread owns both and takes batches from a queue.</remarks>
public sealed class KvEventPublisher : IDisposable
{
    /// <summary>Batches kept for replay (vLLM's default <c>buffer_steps</c>).</summary>
    public const int BufferedBatches = 10_000;

    private readonly BlockingCollection<KvEventBatch> _queue = new(new ConcurrentQueue<KvEventBatch>());
    private readonly Thread _thread;
    private readonly byte[] _topic;
    private readonly TaskCompletionSource _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private long _published;
    private long _failed;
    private int _skipOnWire;

    /// <summary>Binds the sockets (a <c>*</c> or <c>0</c> port picks a free one) and starts publishing.</summary>
    /// <param name="endpoint">PUB address, e.g. <c>tcp://*:5557</c> or <c>tcp://127.0.0.1:*</c>.</param>
    /// <param name="replayEndpoint">ROUTER address for replays, or null for none.</param>
    /// <param name="topic">Topic frame of every message.</param>
    /// <exception cref="NetMQException">An address cannot be bound.</exception>
    public KvEventPublisher(string endpoint, string? replayEndpoint = null, string topic = "")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        _topic = System.Text.Encoding.UTF8.GetBytes(topic ?? string.Empty);
        _thread = new Thread(() => Run(endpoint, replayEndpoint)) { IsBackground = true, Name = "gorgo-kv-events-pub" };
        _thread.Start();
        _bound.Task.GetAwaiter().GetResult();
    }

    /// <summary>The PUB address subscribers connect to (with the port bound).</summary>
    public string Endpoint { get; private set; } = string.Empty;

    /// <summary>The ROUTER address for replays (with the port bound), or null.</summary>
    public string? ReplayEndpoint { get; private set; }

    /// <summary>Batches published so far (the next batch's sequence number).</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Batches that could not be encoded or sent (skipped; subscribers see a gap).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Queues a batch for publishing; it gets the next sequence number.</summary>
    public void Publish(KvEventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!_stopping)
        {
            _queue.Add(batch);
        }
    }

    /// <summary>
    /// Injected fault: the next <paramref name="batches"/> batches get their sequence numbers and are kept for replay
    /// but are not sent, as when ZeroMQ drops messages for a slow subscriber.
    /// </summary>
    public void SkipOnWire(int batches)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batches);
        Interlocked.Exchange(ref _skipOnWire, batches);
    }

    /// <summary>Waits until every queued batch is on the wire (tests).</summary>
    public void Flush(TimeSpan timeout)
    {
        DateTime until = DateTime.UtcNow + timeout;
        while (_queue.Count > 0 && DateTime.UtcNow < until)
        {
            Thread.Sleep(5);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _queue.CompleteAdding();
        _thread.Join();
        _queue.Dispose();
    }

    private void Run(string endpoint, string? replayEndpoint)
    {
        PublisherSocket? pub = null;
        RouterSocket? replay = null;
        try
        {
            pub = new PublisherSocket();
            pub.Options.Linger = TimeSpan.Zero;
            Endpoint = Bind(pub, endpoint);
            if (replayEndpoint is not null)
            {
                replay = new RouterSocket();
                replay.Options.Linger = TimeSpan.Zero;
                replay.Options.SendHighWatermark = BufferedBatches + 16; // a whole replay fits: beyond the mark a ROUTER drops frames silently
                ReplayEndpoint = Bind(replay, replayEndpoint);
            }
        }
        catch (Exception e)
        {
            pub?.Dispose();
            replay?.Dispose();
            _bound.SetException(e);
            return;
        }

        _bound.SetResult();
        var buffer = new Queue<(long Sequence, byte[] Payload)>();
        using (pub!)
        using (replay)
        {
            while (!_queue.IsCompleted)
            {
                try
                {
                    if (_queue.TryTake(out KvEventBatch? batch, replay is null ? 100 : 10))
                    {
                        long sequence = _published;
                        byte[] payload = KvEventCodec.Encode(batch);
                        if (!TakeSkip())
                        {
                            pub.SendMoreFrame(_topic).SendMoreFrame(KvEventCodec.SequenceFrame(sequence)).SendFrame(payload);
                        }

                        buffer.Enqueue((sequence, payload));
                        if (buffer.Count > BufferedBatches)
                        {
                            buffer.Dequeue();
                        }

                        Interlocked.Increment(ref _published);
                    }

                    if (replay is not null)
                    {
                        ServeReplays(replay, buffer);
                    }
                }
                catch (Exception e) when (e is not ObjectDisposedException)
                {
                    // A batch that cannot be encoded or sent is skipped; subscribers see the gap and replay or go approximate.
                    Interlocked.Increment(ref _failed);
                    Trace.TraceWarning($"KV events on {Endpoint}: a batch could not be published: {e.Message}");
                }
            }
        }
    }

    /// <summary>Consumes one batch of an injected <see cref="SkipOnWire"/>; false when none is left.</summary>
    private bool TakeSkip()
    {
        int left;
        do
        {
            left = Volatile.Read(ref _skipOnWire);
            if (left == 0)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref _skipOnWire, left - 1, left) != left);
        return true;
    }

    private static void ServeReplays(RouterSocket replay, Queue<(long Sequence, byte[] Payload)> buffer)
    {
        var request = new NetMQMessage();
        while (replay.TryReceiveMultipartMessage(TimeSpan.Zero, ref request))
        {
            if (request.FrameCount != 3 || request[2].BufferSize != 8)
            {
                continue;
            }

            byte[] client = request[0].ToByteArray();
            long start = KvEventCodec.ReadSequence(request[2].ToByteArray());
            foreach ((long sequence, byte[] payload) in buffer)
            {
                if (sequence >= start)
                {
                    replay.SendMoreFrame(client).SendMoreFrameEmpty().SendMoreFrame(KvEventCodec.SequenceFrame(sequence)).SendFrame(payload);
                }
            }

            replay.SendMoreFrame(client).SendMoreFrameEmpty().SendMoreFrame(KvEventCodec.SequenceFrame(KvEventCodec.EndOfReplay)).SendFrame(Array.Empty<byte>());
            request = new NetMQMessage();
        }
    }

    /// <summary>Binds <paramref name="socket"/>, picking a free port for <c>:*</c> or <c>:0</c>; returns the connectable address.</summary>
    private static string Bind(NetMQSocket socket, string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        string port = endpoint[(colon + 1)..];
        string host = endpoint[..colon];
        if (port is "*" or "0")
        {
            int bound = socket.BindRandomPort(host);
            return $"{Connectable(host)}:{bound}";
        }

        socket.Bind(endpoint);
        return $"{Connectable(host)}:{port}";
    }

    private static string Connectable(string host) => host is "tcp://*" or "tcp://0.0.0.0" ? "tcp://127.0.0.1" : host;
}
