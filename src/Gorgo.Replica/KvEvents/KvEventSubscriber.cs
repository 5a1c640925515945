using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetMQ;
using NetMQ.Sockets;

namespace Gorgo.Replica.KvEvents;

/// <summary>What a <see cref="KvEventSubscriber"/> delivers to: batches in sequence order, and what it could not deliver.</summary>
public interface IKvEventSink
{
    /// <summary>The next batch, in order.</summary>
    void Apply(KvEventBatch batch);

    /// <summary>The engine started over (its sequence went back to 0): everything known of it is void.</summary>
    void Restart();

    /// <summary>Batches were lost for good (a gap the replay could not fill, or an undecodable batch): the view is now approximate.</summary>
    void Lose(string reason);
}

/// <summary>
/// Subscribes to one engine's KV events (ZeroMQ SUB) and delivers them to an <see cref="IKvEventSink"/> in sequence
/// order: a gap in the sequence numbers asks the engine's replay socket (DEALER to its ROUTER) for the missed batches;
/// a subscriber that joins after the engine's first batch asks for everything from 0; what cannot be recovered is
/// reported lost. One thread owns the sockets.
/// </summary>
public sealed class KvEventSubscriber : IDisposable
{
    private readonly KvEventsOptions _options;
    private readonly IKvEventSink _sink;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private long _expected = -1;
    private long _lastOnSubscription = -1;
    private long _received;
    private long _gaps;
    private long _replayed;
    private long _lost;

    /// <summary>Connects to <paramref name="options"/>'s endpoints and starts delivering to <paramref name="sink"/>.</summary>
    public KvEventSubscriber(KvEventsOptions options, IKvEventSink sink, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        new Routing.Options.OptionsErrors().Include(options.Validate()).ThrowIfAny("KV events options");
        _options = options;
        _sink = sink ?? throw new ArgumentNullException(nameof(sink));
        _logger = logger ?? NullLogger.Instance;
        _thread = new Thread(Run) { IsBackground = true, Name = "gorgo-kv-events-sub" };
        _thread.Start();
    }

    /// <summary>Batches received on the subscription (not counting replays).</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Gaps seen in the sequence (each asks for a replay).</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    /// <summary>Batches recovered through replays.</summary>
    public long Replayed => Interlocked.Read(ref _replayed);

    /// <summary>Times batches were lost for good.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>The sequence number of the last batch delivered, or -1 before any.</summary>
    public long LastSequence => Math.Max(-1, Interlocked.Read(ref _expected) - 1);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }

    /// <summary>
    /// The socket thread: a failure (an address that does not resolve, a sink that throws) is logged, makes the view
    /// approximate, and the subscription starts again after a growing pause (0.2 s to 5 s); it never ends the process.
    /// </summary>
    private void Run()
    {
        var pause = TimeSpan.FromMilliseconds(200);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                Subscribe();
                return;
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref _lost);
                _logger.LogError(e, "KV events from {Endpoint}: the subscriber failed; subscribing again in {Pause} ms", _options.Endpoint, pause.TotalMilliseconds);
                try
                {
                    _sink.Lose($"the subscriber failed: {e.Message}");
                }
                catch (Exception sinkError)
                {
                    _logger.LogError(sinkError, "KV events from {Endpoint}: marking the view approximate failed", _options.Endpoint);
                }

                _stop.Token.WaitHandle.WaitOne(pause);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private void Subscribe()
    {
        _lastOnSubscription = -1; // a new subscription: the engine's numbers carry on from where it is
        using var sub = new SubscriberSocket();
        sub.Options.Linger = TimeSpan.Zero;
        sub.Connect(_options.Endpoint);
        sub.Subscribe(_options.Topic);
        DealerSocket? replay = null;
        var message = new NetMQMessage();
        try
        {
            long expected = Interlocked.Read(ref _expected);
            if (expected >= 0 && _options.ReplayEndpoint is not null)
            {
                // Subscribing again after a failure: fetch what was published meanwhile without waiting for the next batch.
                Interlocked.Exchange(ref _expected, Recover(expected, expected, ref replay));
            }

            while (!_stop.IsCancellationRequested)
            {
                if (!sub.TryReceiveMultipartMessage(TimeSpan.FromMilliseconds(100), ref message))
                {
                    continue;
                }

                if (message.FrameCount < 3 || message[message.FrameCount - 2].BufferSize != 8)
                {
                    _logger.LogWarning("KV events from {Endpoint}: ignored a message of {Frames} frames that is not (topic, sequence, payload)", _options.Endpoint, message.FrameCount);
                    message = new NetMQMessage();
                    continue;
                }

                Interlocked.Increment(ref _received);
                long sequence = KvEventCodec.ReadSequence(message[message.FrameCount - 2].ToByteArray());
                byte[] payload = message[message.FrameCount - 1].ToByteArray();
                message = new NetMQMessage();
                OnMessage(sequence, payload, ref replay);
            }
        }
        finally
        {
            replay?.Dispose();
        }
    }

    private void OnMessage(long sequence, byte[] payload, ref DealerSocket? replay)
    {
        long expected = Interlocked.Read(ref _expected);
        if (expected < 0)
        {
            expected = 0;
        }
        else if (sequence <= _lastOnSubscription)
        {
            // One publisher's numbers only grow on the subscription, so going back means a new engine.
            _logger.LogInformation("KV events from {Endpoint}: the sequence went back from {Last} to {Sequence}; the engine started over", _options.Endpoint, _lastOnSubscription, sequence);
            _sink.Restart();
            expected = 0;
        }
        else if (sequence < expected)
        {
            _lastOnSubscription = sequence;
            return; // published while a replay ran, and delivered by it
        }

        _lastOnSubscription = sequence;

        if (sequence > expected)
        {
            Interlocked.Increment(ref _gaps);
            expected = Recover(expected, sequence, ref replay);
            if (sequence < expected)
            {
                Interlocked.Exchange(ref _expected, expected);
                return; // the replay delivered it
            }
        }

        Deliver(sequence, payload);
    }

    /// <summary>Asks the replay socket for batches from <paramref name="from"/>; returns the next sequence expected (past <paramref name="upTo"/> when lost).</summary>
    private long Recover(long from, long upTo, ref DealerSocket? replay)
    {
        if (_options.ReplayEndpoint is null)
        {
            LoseTo(upTo, $"batches {from}–{upTo - 1} were missed and the engine has no replay endpoint");
            return upTo;
        }

        replay ??= Connect(_options.ReplayEndpoint);
        replay.SendMoreFrameEmpty().SendFrame(KvEventCodec.SequenceFrame(from));
        long next = from;
        var frames = new NetMQMessage();
        DateTime deadline = DateTime.UtcNow + _options.ReplayTimeout;
        while (true)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !replay.TryReceiveMultipartMessage(left, ref frames))
            {
                replay.Dispose();
                replay = null;
                LoseTo(Math.Max(next, upTo), $"the replay from {_options.ReplayEndpoint} did not answer within {_options.ReplayTimeout.TotalSeconds:0.#} s");
                return Math.Max(next, upTo);
            }

            if (frames.FrameCount < 2 || frames[frames.FrameCount - 2].BufferSize != 8)
            {
                frames = new NetMQMessage();
                continue;
            }

            long sequence = KvEventCodec.ReadSequence(frames[frames.FrameCount - 2].ToByteArray());
            byte[] payload = frames[frames.FrameCount - 1].ToByteArray();
            frames = new NetMQMessage();
            if (sequence == KvEventCodec.EndOfReplay)
            {
                if (next < upTo)
                {
                    LoseTo(upTo, $"the replay ended at {next} short of {upTo}");
                    return upTo;
                }

                return next;
            }

            if (sequence < next)
            {
                continue;
            }

            if (sequence > next)
            {
                LoseTo(sequence, $"the engine no longer holds batches {next}–{sequence - 1}");
                next = sequence;
            }

            Interlocked.Increment(ref _replayed);
            Deliver(sequence, payload);
            next = sequence + 1;
        }
    }

    private void Deliver(long sequence, byte[] payload)
    {
        try
        {
            _sink.Apply(KvEventCodec.Decode(payload));
        }
        catch (FormatException e)
        {
            Interlocked.Increment(ref _lost);
            _logger.LogWarning("KV events from {Endpoint}: batch {Sequence} is undecodable ({Error})", _options.Endpoint, sequence, e.Message);
            _sink.Lose($"batch {sequence} was undecodable: {e.Message}");
        }

        Interlocked.Exchange(ref _expected, sequence + 1);
    }

    private void LoseTo(long next, string reason)
    {
        Interlocked.Increment(ref _lost);
        _logger.LogWarning("KV events from {Endpoint}: {Reason}; the cache view is approximate until the engine clears its cache", _options.Endpoint, reason);
        _sink.Lose(reason);
        Interlocked.Exchange(ref _expected, next);
    }

    private static DealerSocket Connect(string endpoint)
    {
        var dealer = new DealerSocket();
        dealer.Options.Linger = TimeSpan.Zero;
        dealer.Connect(endpoint);
        return dealer;
    }
}
