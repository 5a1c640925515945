using System.Buffers;
using Gorgo.Mesh.Core.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using MessagePack;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>The mesh protocol on nodes with no driver: digests, merging, expiry, relays, sync, local-only, peers and RTTs, with time passed in.</summary>
public class RegionNodeTests
{
    private const long T0 = 1_800_000_000_000;

    private static readonly RttMatrix TwoRegions = RttMatrix.FromNested(new Dictionary<string, Dictionary<string, double>> { ["a"] = new() { ["b"] = 80 } }, ["a", "b"], 1);

    /// <summary>Four regions on a line (a 10 ms from b, b 11 from c, c 30 from d): with two nearest regions each (itself and one), a follows b, b follows a, c follows b, d follows c.</summary>
    private static readonly RttMatrix Line = RttMatrix.FromNested(
        new Dictionary<string, Dictionary<string, double>>
        {
            ["a"] = new() { ["b"] = 10, ["c"] = 21, ["d"] = 51 },
            ["b"] = new() { ["c"] = 11, ["d"] = 41 },
            ["c"] = new() { ["d"] = 30 },
        },
        ["a", "b", "c", "d"],
        1);

    private static RegionNode Node(string region, RttMatrix? rtt = null, ConsistencyMode consistency = ConsistencyMode.Gossip, PrefixMergeMode merge = PrefixMergeMode.Replace, int nearest = 0, int originTimeoutMs = 1_000, params string[] local)
    {
        rtt ??= TwoRegions;
        var router = new Router(new RouterOptions { Region = region, NearestRegions = nearest }, rtt, new FixedClock(T0));
        var options = new RegionNodeOptions { Region = region, Consistency = consistency, NearestRegions = nearest, Gossip = new GossipOptions { OriginTimeoutMs = originTimeoutMs, SummaryMerge = merge, Fanout = 2 } };
        return new RegionNode(options, router, rtt, incarnation: 1, local);
    }

    private static ReplicaView View(string id, string region, long takenAt = T0, int running = 3) => new()
    {
        Id = id,
        Region = region,
        Model = "m",
        RunningRequests = running,
        RunningTokens = 300,
        PrefillMsPerToken = 0.03,
        MaxRunningRequests = 8,
        MaxContextTokens = 4096,
        TakenAtMs = takenAt,
    };

    private static Digest FromB(long version, long createdAt, params string[] replicas) => new()
    {
        Origin = "b",
        Incarnation = 1,
        Version = version,
        CreatedAtUnixMs = createdAt,
        Replicas = replicas.Select(id => new ReplicaDigest { Id = id, Model = "m", PrefillMsPerToken = 0.03, MaxRunning = 8, MaxContextTokens = 4096, Running = 1, RunningTokens = 100, HotBlocks = [1UL, 2UL] }).ToArray(),
    };

    [Fact]
    public void Newer_digests_replace_older_ones_and_older_ones_are_ignored()
    {
        RegionNode node = Node("a");
        Assert.True(node.Merge(FromB(2, T0, "b1", "b2"), T0));
        Assert.False(node.Merge(FromB(1, T0, "b3"), T0));
        Assert.False(node.Merge(FromB(2, T0, "b3"), T0));
        Assert.Equal(["b1", "b2"], node.Router.Replicas.Select(r => r.Id).Order());
        Assert.Equal([1UL, 2UL], node.Router.Summarize("b1").Hashes.Order());

        Assert.True(node.Merge(FromB(3, T0, "b2"), T0));
        Assert.Equal(["b2"], node.Router.Replicas.Select(r => r.Id)); // b1 left the newer digest, so the node forgets it
    }

    [Theory]
    [InlineData(PrefixMergeMode.Replace, new ulong[] { 1, 2 })]
    [InlineData(PrefixMergeMode.Union, new ulong[] { 1, 2, 7, 8 })]
    public void A_digest_replaces_or_adds_to_what_the_node_learned_of_a_replica_as_configured(PrefixMergeMode merge, ulong[] believed)
    {
        RegionNode node = Node("a", merge: merge);
        node.Merge(FromB(1, T0, "b1"), T0);
        node.Router.RecordCached("b1", [7UL, 8UL]); // e.g. this node just routed a prompt there

        node.Merge(FromB(2, T0, "b1"), T0); // the next digest lists only the replica's hottest blocks, 1 and 2

        Assert.Equal(believed, node.Router.Summarize("b1").Hashes.Order());
    }

    [Fact]
    public void A_restarted_origin_is_recognised_by_its_incarnation()
    {
        RegionNode node = Node("a");
        node.Merge(FromB(50, T0, "b1"), T0);
        Digest restarted = FromB(1, T0, "b9");
        restarted.Incarnation = 2;
        Assert.True(node.Merge(restarted, T0));
        Assert.Equal(["b9"], node.Router.Replicas.Select(r => r.Id));
    }

    [Fact]
    public void A_region_declared_dead_is_forgotten_at_once_its_relayed_state_ignored_and_its_restart_welcome()
    {
        RegionNode node = Node("a");
        node.Merge(FromB(5, T0, "b1"), T0);

        Assert.True(node.MarkDown("b"));
        Assert.Empty(node.Router.Replicas);
        Assert.Empty(node.KnownRegions());

        // A peer that has not heard yet relays the dead node's newer state: still ignored.
        Assert.False(node.Merge(FromB(6, T0 + 100, "b1"), T0 + 100));
        Assert.Empty(node.Router.Replicas);

        Digest restarted = FromB(1, T0 + 200, "b1");
        restarted.Incarnation = 2;
        Assert.True(node.Merge(restarted, T0 + 200));
        Assert.Equal(["b1"], node.Router.Replicas.Select(r => r.Id));
        Assert.False(node.MarkDown("c")); // never known: nothing to forget
    }

    [Fact]
    public void A_peer_whose_calls_keep_failing_is_routed_around_until_one_succeeds()
    {
        RegionNode node = Node("a");
        node.Merge(FromB(5, T0, "b1"), T0);

        Assert.False(node.RecordCall("b", succeeded: false));
        Assert.False(node.RecordCall("b", succeeded: false));
        Assert.True(node.IsReachable("b"));
        Assert.True(node.RecordCall("b", succeeded: false)); // the third failure in a row (ProbeOptions.UnreachableAfterFailures)
        Assert.False(node.IsReachable("b"));
        Assert.False(node.Router.IsReachable("b"));
        Assert.Equal(["b"], node.UnreachableRegions());
        Assert.Equal(["b"], node.Describe(T0).Unreachable);
        Assert.False(node.RecordCall("b", succeeded: false)); // already unreachable: no change

        Assert.True(node.RecordCall("b", succeeded: true));
        Assert.True(node.Router.IsReachable("b"));
        Assert.False(node.RecordCall("b", succeeded: false)); // the count starts again
        Assert.False(node.RecordCall("a", succeeded: false)); // its own region, and unknown ones, are never unreachable
        Assert.False(node.RecordCall("zz", succeeded: false));
    }

    [Fact]
    public void A_remote_replicas_load_is_as_old_as_the_digest_says()
    {
        RegionNode node = Node("a");
        Digest digest = FromB(1, T0 - 300, "b1");
        digest.Replicas[0].AgeMs = 200;
        node.Merge(digest, T0);
        Assert.Equal(T0 - 500, node.Router.Replicas.Single().TakenAtMs);
    }

    [Fact]
    public void Silent_origins_are_forgotten_with_their_replicas()
    {
        RegionNode node = Node("a", originTimeoutMs: 1_000);
        node.Merge(FromB(1, T0, "b1"), T0);
        Assert.Empty(node.ExpireStale(T0 + 1_000));
        Assert.Equal(["b"], node.ExpireStale(T0 + 1_001));
        Assert.Empty(node.Router.Replicas);
        Assert.Empty(node.KnownRegions());
    }

    [Fact]
    public void Own_digests_and_unknown_regions_are_not_merged()
    {
        RegionNode node = Node("a");
        Digest own = FromB(1, T0, "a9");
        own.Origin = "a";
        Assert.False(node.Merge(own, T0));
        own.Origin = "mars";
        Assert.False(node.Merge(own, T0));
        Assert.Empty(node.Router.Replicas);
    }

    [Fact]
    public void A_digest_carries_every_reported_local_replica_with_its_load_age_and_hottest_blocks()
    {
        RegionNode node = Node("a", local: ["a1", "a2", "a3"]);
        node.UpdateLocal(View("a2", "a", takenAt: T0 - 40, running: 5));
        node.UpdateLocal(View("a1", "a", takenAt: T0 - 10));
        node.RecordCache("a1", [11UL, 12UL], []);
        node.RecordCache("a1", [], [11UL]);

        Digest digest = node.MakeDigest(T0);

        Assert.Equal(["a1", "a2"], digest.Replicas.Select(r => r.Id)); // a3 has not reported yet; order is the node's
        Assert.Equal([10L, 40L], digest.Replicas.Select(r => r.AgeMs));
        Assert.Equal(5, digest.Replicas[1].Running);
        Assert.Equal([12UL], digest.Replicas[0].HotBlocks!);
        Assert.Equal(1, digest.Version);
        Assert.Equal(2, node.MakeDigest(T0).Version);
    }

    [Fact]
    public void A_local_only_node_shares_neither_load_nor_prefix_summaries_and_serves_at_home_unless_saturated()
    {
        RegionNode node = Node("a", consistency: ConsistencyMode.LocalOnly, local: ["a1"]);
        node.UpdateLocal(View("a1", "a", running: 6));
        node.RecordCache("a1", [11UL], []);

        ReplicaDigest replica = node.MakeDigest(T0).Replicas.Single();

        Assert.Equal((0, 0L, (ulong[]?)null), (replica.Running, replica.RunningTokens, replica.HotBlocks));
        Assert.Equal(8, replica.MaxRunning); // capacity and health still travel
        Assert.Equal(RoutingScope.LocalFirst, node.Scope);
        Assert.Equal(RoutingScope.Global, Node("b").Scope);
    }

    [Fact]
    public void A_replica_of_another_region_is_not_a_local_replica()
    {
        RegionNode node = Node("a", local: ["a1"]);
        Assert.Throws<ArgumentException>(() => node.UpdateLocal(View("b1", "b")));
        Assert.Throws<ArgumentException>(() => node.UpdateLocal(View("a1", "b")));
    }

    [Fact]
    public void Cache_stores_for_a_replica_the_router_does_not_know_yet_are_dropped()
    {
        RegionNode node = Node("a", local: ["a1"]);
        node.RecordCache("a1", [11UL], []); // before its first load report
        node.UpdateLocal(View("a1", "a"));
        Assert.Empty(node.Router.Summarize("a1").Hashes);
    }

    [Fact]
    public void Gossip_round_trips_carry_digests_both_ways_and_count_their_bytes()
    {
        RegionNode a = Node("a", local: ["a1"]);
        RegionNode b = Node("b", local: ["b1"]);
        a.UpdateLocal(View("a1", "a"));
        b.UpdateLocal(View("b1", "b"));

        byte[] request = a.MakeGossip(T0).ToArray();
        byte[] reply = b.HandleGossip(request, T0);
        a.HandleGossipReply(reply, T0);

        Assert.Equal(["b"], a.KnownRegions());
        Assert.Equal(["a"], b.KnownRegions());
        Assert.Equal(["a1", "b1"], a.Router.Replicas.Select(r => r.Id).Order());
        Assert.Equal(request.Length + reply.Length, a.Stats.GossipBytesSent + a.Stats.GossipBytesReceived);
        Assert.Equal(a.Stats.GossipBytesSent, b.Stats.GossipBytesReceived);
    }

    [Fact]
    public void A_reply_relays_third_regions_the_requester_lacks_and_follows_but_not_what_it_holds_or_sent()
    {
        RegionNode a = Node("a", Line, nearest: 2, local: ["a1"]);
        RegionNode b = Node("b", Line, nearest: 2, local: ["b1"]);
        RegionNode c = Node("c", Line, nearest: 2, local: ["c1"]);
        foreach ((RegionNode node, string id) in new[] { (a, "a1"), (b, "b1"), (c, "c1") })
        {
            node.UpdateLocal(View(id, node.Region));
        }

        Assert.True(b.Interested("a") && !b.Interested("c") && c.Interested("b") && !c.Interested("a"));
        b.Merge(a.MakeDigest(T0), T0);

        // c asks b: b's reply carries b's own digest; a's digest is not relayed because c does not follow a.
        ReceivedGossip toC = GossipCodec.ReadMessage(b.HandleGossip(c.MakeGossip(T0), T0));
        Assert.Equal(["b"], toC.Digests.Select(d => GossipCodec.PeekHeader(d).Origin));

        // a asks b: b's own digest only; a's digest is a's own.
        ReceivedGossip toA = GossipCodec.ReadMessage(b.HandleGossip(a.MakeGossip(T0), T0));
        Assert.Equal(["b"], toA.Digests.Select(d => GossipCodec.PeekHeader(d).Origin));
        Assert.Equal(["a"], toA.KnownOrigins);
    }

    [Fact]
    public void A_reply_relays_a_digest_only_when_it_is_newer_than_what_the_requester_holds()
    {
        RttMatrix three = RttMatrix.FromNested(new Dictionary<string, Dictionary<string, double>> { ["a"] = new() { ["b"] = 10, ["c"] = 20 }, ["b"] = new() { ["c"] = 10 } }, ["a", "b", "c"], 1);
        RegionNode a = Node("a", three);
        RegionNode b = Node("b", three);
        RegionNode c = Node("c", three, local: ["c1"]);
        c.UpdateLocal(View("c1", "c"));
        byte[] first = GossipCodec.Encode(c.MakeDigest(T0));
        b.MergeEncoded(first, T0);

        byte[] bytes = b.HandleGossip(a.MakeGossip(T0), T0).ToArray();
        ReceivedGossip reply = GossipCodec.ReadMessage(bytes);
        Assert.Equal(["b", "c"], reply.Digests.Select(d => GossipCodec.PeekHeader(d).Origin));
        Assert.Equal(first, reply.Digests[1].ToArray()); // relayed as received, not re-encoded
        a.HandleGossipReply(bytes, T0);
        Assert.Equal(["b", "c"], a.KnownRegions());

        reply = GossipCodec.ReadMessage(b.HandleGossip(a.MakeGossip(T0), T0)); // a now holds c's digest
        Assert.Equal(["b"], reply.Digests.Select(d => GossipCodec.PeekHeader(d).Origin));
    }

    [Fact]
    public void A_sync_answer_is_a_fresh_digest_merged_like_any_other()
    {
        RegionNode a = Node("a");
        RegionNode b = Node("b", local: ["b1"]);
        b.UpdateLocal(View("b1", "b", running: 7));
        Assert.True(a.ApplySync(b.AnswerSync(T0), T0));
        Assert.Equal(7, a.Router.Replicas.Single().RunningRequests);
        Assert.True(b.Stats.GossipBytesSent > 0);
        Assert.Equal(b.Stats.GossipBytesSent, a.Stats.GossipBytesReceived);
    }

    [Fact]
    public void Peers_are_the_live_regions_the_node_follows_and_a_round_picks_fanout_of_them()
    {
        RegionNode b = Node("b", Line, nearest: 3);
        string[] peers = b.GossipPeers(["d", "a", "b", "c", "mars", "a"]);
        Assert.Equal(["a", "c"], peers); // d is not among b's three nearest; itself, unknown and repeated regions are dropped

        var seen = new HashSet<string>();
        var random = new Random(7);
        for (int i = 0; i < 50; i++)
        {
            ReadOnlySpan<string> chosen = b.ChoosePeers([.. peers], random);
            Assert.Equal(2, chosen.Length);
            Assert.NotEqual(chosen[0], chosen[1]);
            seen.UnionWith(chosen.ToArray());
        }

        Assert.Equal(["a", "c"], seen.Order());
        Assert.Empty(Node("a").ChoosePeers([], random).ToArray());
    }

    [Fact]
    public void Rtt_probes_are_smoothed_into_the_routers_matrix()
    {
        RegionNode node = Node("a");
        Assert.Equal(100, node.RecordRtt("b", 100));
        Assert.Equal((0.3 * 200) + (0.7 * 100), node.RecordRtt("b", 200), 9);
        Assert.Equal(130, node.Router.Rtt.Get("a", "b"), 9);
        Assert.Equal(130, node.Router.Rtt.Get("b", "a"), 9);
        Assert.True(double.IsNaN(node.RecordRtt("mars", 5)));
        Assert.True(double.IsNaN(node.RecordRtt("b", double.NaN)));
    }

    [Fact]
    public void Malformed_gossip_is_refused_with_a_serialization_error_and_changes_nothing()
    {
        RegionNode node = Node("a");
        Assert.Throws<MessagePackSerializationException>(() => node.HandleGossip([0xC1, 0x00], T0));
        Assert.Throws<MessagePackSerializationException>(() => node.MergeEncoded(new byte[] { 0x92, 0x01 }, T0));
        byte[] truncated = GossipCodec.Encode(FromB(1, T0, "b1"))[..^3];
        Assert.Throws<MessagePackSerializationException>(() => node.MergeEncoded(truncated, T0));
        Assert.Empty(node.KnownRegions());
    }

    [Fact]
    public void A_gossip_message_reads_back_as_written_with_its_digests_as_slices_of_it()
    {
        byte[] one = GossipCodec.Encode(FromB(1, T0, "b1"));
        byte[] two = GossipCodec.Encode(FromB(2, T0, "b1", "b2"));
        byte[] bytes = GossipCodec.Encode(new GossipMessage { Digests = [one, two], KnownOrigins = ["b", "c"], KnownVersions = [1, 7, 3, 9], Sender = "a" });

        ReceivedGossip read = GossipCodec.ReadMessage(bytes);

        Assert.Equal([one, two], read.Digests.Select(d => d.ToArray()));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read.Digests[0], out ArraySegment<byte> segment) && segment.Array == bytes);
        Assert.Equal("a", read.Sender);
        Assert.True(read.TryGetKnown("c", out long incarnation, out long version));
        Assert.Equal((3L, 9L), (incarnation, version));
        Assert.False(read.TryGetKnown("d", out _, out _));
        Assert.Equal(new DigestHeader("b", 1, 2, T0), GossipCodec.PeekHeader(two));
        Assert.Equal([1UL, 2UL], GossipCodec.Decode<Digest>(two).Replicas[1].HotBlocks!);
    }

    [Theory]
    [InlineData(ConsistencyMode.Gossip)]
    [InlineData(ConsistencyMode.LocalOnly)]
    public void The_digest_written_into_gossip_is_byte_for_byte_the_encoded_digest_object(ConsistencyMode consistency)
    {
        RegionNode node = Node("a", consistency: consistency, local: ["a1", "a2", "a3"]);
        node.UpdateLocal(View("a1", "a", takenAt: T0 - 10, running: 4) with { RunningPrefillTokens = 120, DecodeMsPerRequest = 1_234.5, DecodeStepMs = 8.4567, KvCacheUtilization = 0.37, QueuedTokens = 5_000_000_000 });
        node.UpdateLocal(View("a3", "a", takenAt: T0 - 70) with { Health = ReplicaHealth.Unhealthy });
        node.RecordCache("a1", [11UL, 12UL, ulong.MaxValue], []);

        Digest made = node.MakeDigest(T0); // version 1
        byte[] gossip = node.MakeGossip(T0).ToArray(); // writes version 2 directly
        made.Version = 2;

        Assert.Equal(GossipCodec.Encode(made), GossipCodec.ReadMessage(gossip).Digests[0].ToArray());
        made.Version = 3;
        Assert.Equal(GossipCodec.Encode(made), node.AnswerSync(T0));
    }

    [Fact]
    public void A_digest_read_field_by_field_gives_the_views_the_digest_describes()
    {
        Digest digest = FromB(4, T0 - 100, "b1", "b2");
        digest.Replicas[1].AgeMs = 30;
        digest.Replicas[1].RunningPrefillTokens = 77;
        digest.Replicas[1].DecodeMsPerRequest = 900;
        digest.Replicas[1].DecodeStepMicros = 8_457;
        digest.Replicas[1].HotBlocks = null;

        var decoded = new DecodedDigest(GossipCodec.Encode(digest));

        Assert.Equal(digest.Header, decoded.Header);
        Assert.Equal(["b1", "b2"], decoded.Views.Select(v => v.Id));
        ReplicaView b2 = decoded.Views[1];
        Assert.Equal(("b", "m", 1, 100L, 77L, 8, 4096, T0 - 130), (b2.Region, b2.Model, b2.RunningRequests, b2.RunningTokens, b2.RunningPrefillTokens!.Value, b2.MaxRunningRequests, b2.MaxContextTokens, b2.TakenAtMs));
        Assert.Null(decoded.Views[0].RunningPrefillTokens);
        Assert.Equal(900, b2.DecodeMsPerRequest);
        Assert.Null(decoded.Views[0].DecodeMsPerRequest);
        Assert.Equal(8.457, b2.DecodeStepMs!.Value, 9);
        Assert.Null(decoded.Views[0].DecodeStepMs);
        Assert.Equal([1UL, 2UL], decoded.Summaries[0]!.Hashes);
        Assert.Null(decoded.Summaries[1]);
        Assert.True(decoded.Lists("b2") && !decoded.Lists("b3"));

        // A newer node's digest with an extra field per replica and per digest still reads.
        object[] replica = [.. GossipCodec.Decode<object[]>(GossipCodec.Encode(digest.Replicas[0])), "future"];
        byte[] future = GossipCodec.Encode(new object[] { "b", 1L, 5L, T0, new[] { replica }, 0L, Array.Empty<object>(), "future" });
        Assert.Equal(["b1"], new DecodedDigest(future).Views.Select(v => v.Id));
    }

    [Fact]
    public void A_message_made_of_segments_is_byte_for_byte_the_serialized_message()
    {
        byte[] own = GossipCodec.Encode(FromB(1, T0, "b1"));
        byte[] relay = GossipCodec.Encode(FromB(2, T0, "b1", "b2"));
        byte[] big = new byte[70_000]; // a length that needs a 32-bit binary header
        ReadOnlySequence<byte> segmented = GossipCodec.EncodeMessage(own, [relay, big.AsMemory(1, 69_000)], ["b", "c"], [1, 7, 3, 9], "a");

        byte[] serialized = GossipCodec.Encode(new GossipMessage { Digests = [own, relay, big[1..69_001]], KnownOrigins = ["b", "c"], KnownVersions = [1, 7, 3, 9], Sender = "a" });

        Assert.Equal(serialized, segmented.ToArray());
        ReceivedGossip read = GossipCodec.ReadMessage(segmented);
        Assert.Equal([own.Length, relay.Length, 69_000], read.Digests.Select(d => d.Length));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read.Digests[2], out ArraySegment<byte> slice) && slice.Array == big); // relayed bytes are not copied
    }

    [Fact]
    public void A_replica_whose_load_report_has_not_changed_keeps_its_view_object_from_the_last_digest()
    {
        Digest first = FromB(1, T0 - 100, "b1", "b2");
        first.Replicas[0].AgeMs = 40; // b1's report was taken at T0 - 140
        Digest second = FromB(2, T0 - 60, "b1", "b2");
        second.Replicas[0].AgeMs = 80; // the same report, 40 ms older
        second.Replicas[1].Running = 2; // b2 reported again

        var before = new DecodedDigest(GossipCodec.Encode(first));
        var after = new DecodedDigest(GossipCodec.Encode(second), before);

        Assert.Same(before.Views[0], after.Views[0]);
        Assert.NotSame(before.Views[1], after.Views[1]);
        Assert.Equal(2, after.Views[1].RunningRequests);
        Assert.True(after.ListsSameAs(before));
    }

    [Fact]
    public void Hot_blocks_travel_as_eight_little_endian_bytes_each()
    {
        byte[] bytes = GossipCodec.Encode(new ReplicaDigest { Id = "r", HotBlocks = [0x0102030405060708UL] });
        int at = bytes.AsSpan().IndexOf((byte)0xC4); // bin 8 header
        Assert.Equal(new byte[] { 0xC4, 8, 8, 7, 6, 5, 4, 3, 2, 1 }, bytes[at..(at + 10)]);
        Assert.Throws<MessagePackSerializationException>(() => GossipCodec.Decode<ReplicaDigest>(GossipCodec.Encode(new object[] { "r", "m", 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0, 0, 0, new byte[] { 1, 2, 3 } })));
    }

    [Fact]
    public void The_description_names_what_the_node_holds()
    {
        RegionNode node = Node("a", local: ["a1"]);
        node.Merge(FromB(4, T0 - 100, "b1"), T0);
        RegionNodeState state = node.Describe(T0);
        Assert.Equal(("a", "gossip"), (state.Region, state.Consistency));
        Assert.Equal(["a1"], state.LocalReplicas);
        RemoteRegionState b = Assert.Single(state.Remote);
        Assert.Equal(("b", 4L, 100L, 2), (b.Origin, b.Version, b.AgeMs, b.Replicas.Single().HotBlocks));
    }
}

/// <summary>A clock stopped at one instant.</summary>
internal sealed class FixedClock(long unixMs) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
}
