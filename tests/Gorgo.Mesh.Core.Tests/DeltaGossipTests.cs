using System.Buffers;
using Gorgo.Mesh.Core.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>Delta gossip: digests that carry only what changed since the version a peer holds, whole digests when needed, and relays.</summary>
public class DeltaGossipTests
{
    private const long T0 = 1_800_000_000_000;

    private static readonly RttMatrix Three = RttMatrix.FromNested(
        new Dictionary<string, Dictionary<string, double>> { ["a"] = new() { ["b"] = 10, ["c"] = 20 }, ["b"] = new() { ["c"] = 10 } }, ["a", "b", "c"], 1);

    private static RegionNode Node(string region, bool deltas = true, int fullEveryMs = 60_000, long incarnation = 1, int history = 64, params string[] local)
    {
        var router = new Router(new RouterOptions { Region = region }, Three, new FixedClock(T0));
        var gossip = new GossipOptions { OriginTimeoutMs = 60_000, Deltas = deltas, FullExchangeIntervalMs = fullEveryMs, DeltaHistory = history, DigestBudgetBytes = 4096 };
        return new RegionNode(new RegionNodeOptions { Region = region, Gossip = gossip }, router, Three, incarnation, local);
    }

    private static ReplicaView View(string id, string region, int running = 1) => new()
    {
        Id = id,
        Region = region,
        Model = "m",
        RunningRequests = running,
        PrefillMsPerToken = 0.03,
        MaxRunningRequests = 8,
        MaxContextTokens = 4096,
        TakenAtMs = T0,
    };

    /// <summary>One exchange started by <paramref name="from"/>; returns the bytes of the request and of the reply.</summary>
    private static (int Request, int Reply) Exchange(RegionNode from, RegionNode to, long now = T0)
    {
        byte[] request = from.MakeGossip(now, to.Region).ToArray();
        byte[] reply = to.HandleGossip(request, now);
        from.HandleGossipReply(reply, now);
        return (request.Length, reply.Length);
    }

    private static ulong[] Blocks(RegionNode node, string replica, int max = int.MaxValue) => [.. node.Router.Summarize(replica, max).Hashes.Order()];

    /// <summary>Asserts <paramref name="receiver"/> believes of each of <paramref name="origin"/>'s replicas exactly the hottest blocks within the origin's digest budget, and its latest load.</summary>
    private static void AssertHolds(RegionNode receiver, RegionNode origin)
    {
        foreach (string replica in origin.LocalReplicas)
        {
            Assert.Equal(Blocks(origin, replica, origin.HashesPerReplica), Blocks(receiver, replica));
            Assert.Equal(origin.Router.Replicas.Single(r => r.Id == replica).RunningRequests, receiver.Router.Replicas.Single(r => r.Id == replica).RunningRequests);
        }
    }

    private static void Churn(RegionNode node, Random random, int added = 20, int removed = 5)
    {
        foreach (string replica in node.LocalReplicas)
        {
            node.Router.RecordCached(replica, Enumerable.Range(0, added).Select(_ => (ulong)random.NextInt64()).ToArray());
            node.Router.RemoveCached(replica, Blocks(node, replica).Take(removed).ToArray());
            node.UpdateLocal(View(replica, node.Region, running: random.Next(8)));
        }
    }

    /// <summary>An origin <c>a</c> with one replica and a peer <c>b</c> after their first exchange.</summary>
    private static (RegionNode A, RegionNode B, Random Random) Connected(int seed)
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b");
        var random = new Random(seed);
        a.UpdateLocal(View("a1", "a"));
        Churn(a, random);
        Exchange(a, b);
        return (a, b, random);
    }

    [Fact]
    public void After_each_exchange_the_peer_holds_exactly_the_origins_hot_blocks()
    {
        RegionNode a = Node("a", local: ["a1", "a2"]);
        RegionNode b = Node("b", local: ["b1"]);
        a.UpdateLocal(View("a1", "a"));
        a.UpdateLocal(View("a2", "a"));
        b.UpdateLocal(View("b1", "b"));
        var random = new Random(3);
        for (int round = 0; round < 30; round++)
        {
            a.Router.RecordCached(round % 2 == 0 ? "a1" : "a2", Enumerable.Range(0, 20).Select(_ => (ulong)random.NextInt64()).ToArray());
            if (round % 3 == 0)
            {
                a.Router.RemoveCached("a1", Blocks(a, "a1").Take(5).ToArray());
            }

            if (round % 2 == 0)
            {
                Exchange(a, b);
            }
            else
            {
                Exchange(b, a);
            }

            AssertHolds(b, a);
        }

        Assert.True(a.Stats.DeltasMade > 20);
        Assert.Equal(0, b.Stats.DeltasWithoutBase);
    }

    [Fact]
    public void Deltas_are_a_fraction_of_a_whole_digest_and_whole_gossip_sends_the_same_state()
    {
        int Bytes(bool deltas)
        {
            RegionNode a = Node("a", deltas: deltas, local: ["a1"]);
            RegionNode b = Node("b", deltas: deltas);
            a.UpdateLocal(View("a1", "a"));
            var random = new Random(5);
            a.Router.RecordCached("a1", Enumerable.Range(0, 400).Select(_ => (ulong)random.NextInt64()).ToArray());
            Exchange(a, b);
            long before = a.Stats.GossipBytesSent;
            for (int round = 0; round < 10; round++)
            {
                Churn(a, random, added: 4, removed: 2);
                Exchange(a, b);
                AssertHolds(b, a);
            }

            return (int)(a.Stats.GossipBytesSent - before);
        }

        int whole = Bytes(deltas: false), delta = Bytes(deltas: true);
        Assert.True(delta * 5 < whole, $"deltas sent {delta} B, whole digests {whole} B");
    }

    [Fact]
    public void A_delta_made_on_a_lost_message_is_ignored_and_deltas_start_again_from_what_the_peer_confirmed()
    {
        (RegionNode a, RegionNode b, Random random) = Connected(7);
        Churn(a, random);
        _ = a.MakeGossip(T0 + 10, "b"); // lost on the way, unnoticed
        Churn(a, random);
        Exchange(a, b, T0 + 20); // made on the lost one: b keeps it for a base that will not come
        Assert.NotEqual(Blocks(a, "a1", a.HashesPerReplica), Blocks(b, "a1"));

        long later = T0 + 20 + a.Options.Gossip.EffectiveConfirmWithinMs + 1;
        Churn(a, random);
        Exchange(a, b, later);
        AssertHolds(b, a);
    }

    [Fact]
    public void A_failed_call_makes_the_next_delta_on_what_the_peer_confirmed()
    {
        (RegionNode a, RegionNode b, Random random) = Connected(7);
        Churn(a, random);
        _ = a.MakeGossip(T0 + 10, "b"); // its call failed
        a.RecordCall("b", succeeded: false);
        Churn(a, random);
        Exchange(a, b, T0 + 20);
        AssertHolds(b, a);
        Assert.Equal(0, b.Stats.DeltasWithoutBase);
    }

    [Fact]
    public void Messages_that_overtake_one_another_are_all_taken()
    {
        (RegionNode a, RegionNode b, Random random) = Connected(29);
        Churn(a, random);
        byte[] earlier = a.MakeGossip(T0 + 10, "b").ToArray();
        Churn(a, random);
        byte[] later = a.MakeGossip(T0 + 20, "b").ToArray();
        a.HandleGossipReply(b.HandleGossip(later, T0 + 30), T0 + 30); // arrives first: a delta on the other, kept
        a.HandleGossipReply(b.HandleGossip(earlier, T0 + 40), T0 + 40); // its base: both applied
        AssertHolds(b, a);
        Churn(a, random);
        Exchange(a, b, T0 + 50); // chained on the later one, which b holds
        AssertHolds(b, a);
        Assert.Equal(0, b.Stats.DeltasWithoutBase);
    }

    [Fact]
    public void A_restarted_origin_sends_a_whole_digest_that_replaces_its_earlier_life()
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b");
        var random = new Random(9);
        a.UpdateLocal(View("a1", "a"));
        Churn(a, random);
        Exchange(a, b);
        Churn(a, random);
        Exchange(b, a);

        RegionNode restarted = Node("a", incarnation: 2, local: ["a1"]);
        restarted.UpdateLocal(View("a1", "a", running: 6));
        Churn(restarted, random);
        Exchange(b, restarted); // b holds version 2 of incarnation 1: no base in the new life
        Assert.Equal(0, restarted.Stats.DeltasMade);
        AssertHolds(b, restarted);
        Churn(restarted, random);
        Exchange(restarted, b);
        Assert.Equal(1, restarted.Stats.DeltasMade);
        AssertHolds(b, restarted);
    }

    [Fact]
    public void A_peer_that_does_not_take_part_gets_whole_digests()
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b", deltas: false);
        a.UpdateLocal(View("a1", "a"));
        var random = new Random(11);
        for (int round = 0; round < 4; round++)
        {
            Churn(a, random);
            Exchange(round % 2 == 0 ? a : b, round % 2 == 0 ? b : a);
            AssertHolds(b, a);
        }

        Assert.Equal(0, a.Stats.DeltasMade);
    }

    [Fact]
    public void A_whole_digest_goes_out_once_per_anti_entropy_interval()
    {
        RegionNode a = Node("a", fullEveryMs: 1_000, local: ["a1"]);
        RegionNode b = Node("b");
        a.UpdateLocal(View("a1", "a"));
        var random = new Random(13);
        for (int tick = 0; tick < 10; tick++)
        {
            Churn(a, random);
            Exchange(a, b, T0 + (tick * 250));
        }

        // Whole at 0, 1,000 and 2,000 ms; deltas in between.
        Assert.Equal(10 - 3, a.Stats.DeltasMade);
        AssertHolds(b, a);
    }

    [Fact]
    public void A_peer_cut_off_from_an_origin_catches_up_through_relayed_deltas()
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b", local: ["b1"]);
        RegionNode c = Node("c");
        var random = new Random(17);
        a.UpdateLocal(View("a1", "a"));
        b.UpdateLocal(View("b1", "b"));
        Churn(a, random);
        Exchange(a, b);
        Exchange(c, b); // c gets a's digest relayed (it holds none)
        AssertHolds(c, a);

        long now = T0;
        for (int round = 0; round < 12; round++) // a and c cannot reach each other: only b links them
        {
            now += 250;
            Churn(a, random);
            Exchange(a, b, now);
            Exchange(c, b, now);
        }

        AssertHolds(c, a); // within one relay lag of a
        long relayed = c.Stats.GossipBytesReceived;
        Assert.True(relayed < 12 * 4096, $"c received {relayed} B");
        Assert.Equal(0, c.Stats.DeltasWithoutBase);
    }

    [Fact]
    public void A_newer_version_relayed_while_deltas_are_in_flight_does_not_cut_the_peer_off_from_the_origin()
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b");
        RegionNode c = Node("c");
        var random = new Random(23);
        a.UpdateLocal(View("a1", "a"));
        Churn(a, random);
        Exchange(a, b);
        Exchange(a, c);

        // Two of a's messages to b are on their way when c relays b a newer version of a (made for c): b ignores the
        // first (older than what it holds), and the second is a delta on the first.
        long now = T0 + 1_500;
        Churn(a, random);
        byte[] first = a.MakeGossip(now, "b").ToArray();
        Churn(a, random);
        Exchange(a, c, now);
        Exchange(b, c, now); // b lags a by over the relay delay: c relays what it holds
        Churn(a, random);
        byte[] second = a.MakeGossip(now, "b").ToArray();
        a.HandleGossipReply(b.HandleGossip(first, now), now);
        a.HandleGossipReply(b.HandleGossip(second, now), now);

        // Then every pair gossips every 250 ms: b must go on taking a's deltas, not live on c's relays.
        long withoutBase = b.Stats.DeltasWithoutBase;
        for (int round = 1; round <= 20; round++)
        {
            now += 250;
            Churn(a, random);
            Exchange(a, c, now);
            Exchange(b, c, now);
            Exchange(a, b, now);
            AssertHolds(b, a);
        }

        Assert.True(b.Stats.DeltasWithoutBase - withoutBase <= 1, $"{b.Stats.DeltasWithoutBase - withoutBase} deltas without base at b");
    }

    [Fact]
    public void A_digest_tells_other_routers_of_the_requests_on_their_way_and_a_newer_digest_replaces_them()
    {
        RegionNode a = Node("a");
        RegionNode b = Node("b", local: ["b1"]);
        RegionNode c = Node("c");
        b.UpdateLocal(View("b1", "b"));
        Exchange(a, b);
        Exchange(c, b);
        var random = new Random(19);
        a.Router.Route(new RoutingRequest(PromptBlocks.FromTokens(Enumerable.Range(0, 64).Select(_ => random.Next(1, 50_000)).ToArray(), new BlockHasher(16)), "m"));
        Assert.Equal(1, a.Router.PendingRequests("b1"));

        Exchange(a, c); // a's digest (a delta or whole alike) lists its pending request
        Assert.Equal(1, c.Router.PeerPendingRequests("b1"));

        b.UpdateLocal(View("b1", "b") with { TakenAtMs = T0 + 1_000 });
        Exchange(a, b, T0 + 1_000); // b's report reflects it: a drops it, and its next digest says so
        Exchange(a, c, T0 + 1_000);
        Assert.Equal(0, a.Router.PendingRequests("b1"));
        Assert.Equal(0, c.Router.PeerPendingRequests("b1"));
    }

    [Fact]
    public void Delta_settings_out_of_range_are_refused_with_their_key()
    {
        IReadOnlyList<string> errors = new GossipOptions { FullExchangeIntervalMs = -1, RelayAfterMs = -5, DeltaHistory = 0 }.Validate();
        Assert.Contains(errors, e => e.Contains("Gossip.FullExchangeIntervalMs", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gossip.RelayAfterMs", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gossip.DeltaHistory", StringComparison.Ordinal));
        Assert.Empty(new GossipOptions().Validate());
    }

    [Fact]
    public void Removed_positions_round_trip_and_refuse_a_base_of_another_size()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(buffer);
        int[] positions = [0, 1, 5, 200, 201, 70_000];
        RemovedPositions.Write(ref writer, 80_000, positions);
        writer.Flush();
        var reader = new MessagePack.MessagePackReader(buffer.WrittenMemory);
        ReadOnlySequence<byte> bytes = reader.ReadBytes()!.Value;
        Assert.Equal(positions, RemovedPositions.Read(bytes, 80_000));
        Assert.Throws<DeltaBaseMismatchException>(() => RemovedPositions.Read(bytes, 79_999));
        Assert.ThrowsAny<MessagePack.MessagePackSerializationException>(() => RemovedPositions.Read(bytes.Slice(0, bytes.Length - 1), 80_000));
    }
}
