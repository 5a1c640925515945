using Gorgo.Replica.KvEvents;
using Gorgo.Routing.Hashing;

namespace Gorgo.Replica.Tests;

/// <summary>The ZeroMQ path: publisher to subscriber on loopback, in order, with replays of what a subscriber missed.</summary>
public sealed class KvEventTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public void Batches_arrive_in_order_on_the_subscription()
    {
        using var publisher = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", topic: "kv");
        var sink = new RecordingSink();
        using var subscriber = new KvEventSubscriber(Options(publisher, "kv"), sink);

        // Until the subscription is up ZeroMQ drops batches (the subscriber replays them from 0); then a burst.
        WaitUntilSubscribed(publisher, sink, 0);
        int subscribed = sink.Batches.Count;
        for (int i = 0; i < 500; i++)
        {
            publisher.Publish(RemovedBatch((ulong)(subscribed + i)));
        }

        WaitUntil(() => sink.Batches.Count == subscribed + 500);
        Assert.Equal(Enumerable.Range(0, subscribed + 500).Select(i => (ulong)i), sink.Batches.Select(b => ((KvBlockRemoved)b.Events[0]).BlockHashes[0]));
        Assert.Equal(subscribed + 499, subscriber.LastSequence);
        Assert.Equal(0, subscriber.Lost);
    }

    [Fact]
    public void A_failure_on_the_subscriber_thread_makes_the_view_approximate_and_the_subscription_starts_again()
    {
        using var publisher = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        var sink = new RecordingSink();
        using var subscriber = new KvEventSubscriber(Options(publisher), sink);
        WaitUntilSubscribed(publisher, sink, 0);
        int before = sink.Batches.Count;

        sink.FailNext = 1;
        for (int i = 0; i < 20; i++)
        {
            publisher.Publish(RemovedBatch((ulong)(before + i)));
            Thread.Sleep(20);
        }

        // The failed batch is replayed to the new subscription, so nothing is missing, but the view was flagged.
        WaitUntil(() => sink.Batches.Count >= before + 20);
        Assert.Contains(sink.Losses, l => l.Contains("the subscriber failed", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(0, sink.Batches.Count).Select(i => (ulong)i), sink.Batches.Select(b => ((KvBlockRemoved)b.Events[0]).BlockHashes[0]));
    }

    [Fact]
    public void A_subscriber_that_joins_late_recovers_the_missed_batches_through_replay()
    {
        using var publisher = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        for (int i = 0; i < 5; i++)
        {
            publisher.Publish(RemovedBatch((ulong)i));
        }

        publisher.Flush(Patience);
        var sink = new RecordingSink();
        using var subscriber = new KvEventSubscriber(Options(publisher), sink);
        WaitUntilSubscribed(publisher, sink, 5);

        Assert.Equal(Enumerable.Range(0, sink.Batches.Count).Select(i => (ulong)i), sink.Batches.Select(b => ((KvBlockRemoved)b.Events[0]).BlockHashes[0]));
        Assert.True(subscriber.Replayed >= 5, $"replayed {subscriber.Replayed}");
        Assert.Equal(0, subscriber.Lost);
        Assert.Empty(sink.Losses);
    }

    [Fact]
    public void Without_a_replay_endpoint_a_gap_makes_the_view_approximate()
    {
        using var publisher = new KvEventPublisher("tcp://127.0.0.1:*");
        for (int i = 0; i < 3; i++)
        {
            publisher.Publish(RemovedBatch((ulong)i));
        }

        publisher.Flush(Patience);
        var view = new KvCacheView(new BlockHasher(16));
        using var subscriber = new KvEventSubscriber(new KvEventsOptions { Endpoint = publisher.Endpoint }, view);
        var deadline = DateTime.UtcNow + Patience;
        while (subscriber.Received == 0 && DateTime.UtcNow < deadline)
        {
            publisher.Publish(RemovedBatch(99));
            Thread.Sleep(20);
        }

        WaitUntil(() => !view.Exact);
        Assert.Contains("no replay endpoint", view.ApproximateReason, StringComparison.Ordinal);

        publisher.Publish(new KvEventBatch(0, [new KvAllBlocksCleared()]));
        WaitUntil(() => view.Exact);
    }

    [Fact]
    public void A_sequence_that_goes_back_means_the_engine_started_over_and_voids_the_view()
    {
        var sink = new RecordingSink();
        var engine = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        string endpoint = engine.Endpoint;
        string replay = engine.ReplayEndpoint!;
        using var subscriber = new KvEventSubscriber(new KvEventsOptions { Endpoint = endpoint, ReplayEndpoint = replay }, sink);
        WaitUntilSubscribed(engine, sink, 0);
        int before = sink.Batches.Count;
        for (int i = 0; i < 30; i++)
        {
            engine.Publish(RemovedBatch(500));
        }

        WaitUntil(() => sink.Batches.Count == before + 30);
        engine.Dispose();

        using KvEventPublisher restarted = BindAgain(endpoint, replay);
        var deadline = DateTime.UtcNow + Patience;
        ulong marker = 1000;
        while (sink.Restarts == 0 && DateTime.UtcNow < deadline)
        {
            // An engine that restarted publishes its first batches while the subscription reconnects; any of the first 30 tells.
            restarted.Publish(RemovedBatch(marker++));
            Thread.Sleep(100);
        }

        Assert.True(sink.Restarts == 1, $"restarts {sink.Restarts}, received {subscriber.Received}, last {subscriber.LastSequence}, lost {subscriber.Lost}, gaps {subscriber.Gaps}, published {restarted.Published}, losses {string.Join("; ", sink.Losses)}");

        // After the restart the subscriber holds the new engine's batches from its first on (replayed if missed).
        WaitUntil(() => sink.Batches.Count == (int)(marker - 1000));
        Assert.Equal(Enumerable.Range(1000, (int)(marker - 1000)).Select(i => (ulong)i), sink.Batches.Select(b => ((KvBlockRemoved)b.Events[0]).BlockHashes[0]));
    }

    /// <summary>A new publisher on the addresses of one just closed (ZeroMQ releases ports in the background, so this retries briefly, as an engine restart takes a while anyway).</summary>
    private static KvEventPublisher BindAgain(string endpoint, string replay)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            try
            {
                return new KvEventPublisher(endpoint, replay);
            }
            catch (NetMQ.AddressAlreadyInUseException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }

    private static KvEventsOptions Options(KvEventPublisher publisher, string topic = "") =>
        new() { Endpoint = publisher.Endpoint, ReplayEndpoint = publisher.ReplayEndpoint, Topic = topic };

    private static KvEventBatch RemovedBatch(ulong marker) => new(0, [new KvBlockRemoved([marker], null)]);

    /// <summary>Publishes a batch at a time until the subscriber has caught up past <paramref name="published"/>.</summary>
    private static void WaitUntilSubscribed(KvEventPublisher publisher, RecordingSink sink, int published)
    {
        var deadline = DateTime.UtcNow + Patience;
        ulong next = (ulong)published;
        while (sink.Batches.Count <= published && DateTime.UtcNow < deadline)
        {
            publisher.Publish(RemovedBatch(next++));
            Thread.Sleep(20);
        }

        WaitUntil(() => sink.Batches.Count == (int)next);
    }

    private static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            Thread.Sleep(10);
        }
    }

    private sealed class RecordingSink : IKvEventSink
    {
        private readonly Lock _gate = new();
        private readonly List<KvEventBatch> _batches = [];

        public IReadOnlyList<KvEventBatch> Batches
        {
            get
            {
                lock (_gate)
                {
                    return [.. _batches];
                }
            }
        }

        public List<string> Losses { get; } = [];

        public int Restarts { get; private set; }

        /// <summary>How many of the next batches make <see cref="Apply"/> throw (a failing consumer).</summary>
        public int FailNext { get; set; }

        public void Apply(KvEventBatch batch)
        {
            lock (_gate)
            {
                if (FailNext > 0)
                {
                    FailNext--;
                    throw new InvalidOperationException("the consumer failed");
                }

                _batches.Add(batch);
            }
        }

        public void Restart()
        {
            lock (_gate)
            {
                _batches.Clear();
                Restarts++;
            }
        }

        public void Lose(string reason) => Losses.Add(reason);
    }
}
