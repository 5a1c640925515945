using Gorgo.Serving;
using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Mesh.Tests;

/// <summary>Digest merging, expiry and RTT smoothing on a node with no local replicas (no engines, no silo).</summary>
public class RegionStateTests
{
    private static MeshOptions Options(string summaryMerge = "replace") => new()
    {
        Regions = new()
        {
            ["a"] = new RegionEndpointOptions { IngressUrl = "http://127.0.0.1:1001", SiloPort = 1002, GatewayPort = 1003 },
            ["b"] = new RegionEndpointOptions { IngressUrl = "http://127.0.0.1:2001", SiloPort = 2002, GatewayPort = 2003 },
        },
        Rtt = new() { ["a"] = new() { ["b"] = 80 } },
        Gossip = new GossipOptions { OriginTimeoutMs = 1_000, SummaryMerge = summaryMerge },
    };

    private static Digest FromB(long version, long createdAt, params string[] replicas) => new()
    {
        Origin = "b",
        Incarnation = 1,
        Version = version,
        CreatedAtUnixMs = createdAt,
        Replicas = replicas.Select(id => new ReplicaDigest { Id = id, Model = "m", PrefillMsPerToken = 0.03, MaxRunning = 8, MaxContextTokens = 4096, Running = 1, RunningTokens = 100, HotBlocks = ReplicaDigest.Pack([1UL, 2UL]) }).ToArray(),
    };

    [Fact]
    public async Task Newer_digests_replace_older_ones_and_older_ones_are_ignored()
    {
        await using var state = new RegionState(Options(), "a", NullLoggerFactory.Instance);
        long now = state.NowMs;
        Assert.True(state.Merge(FromB(2, now, "b1", "b2")));
        Assert.False(state.Merge(FromB(1, now, "b3")));
        Assert.Equal(["b1", "b2"], state.Router.Replicas.Select(r => r.Id).Order());
        Assert.Equal([1UL, 2UL], state.Router.Summarize("b1").Hashes.Order());

        Assert.True(state.Merge(FromB(3, now, "b2")));
        Assert.Equal(["b2"], state.Router.Replicas.Select(r => r.Id));
    }

    [Theory]
    [InlineData("replace", new ulong[] { 1, 2 })]
    [InlineData("union", new ulong[] { 1, 2, 7, 8 })]
    public async Task A_digest_replaces_or_adds_to_what_the_node_learned_of_a_replica_as_configured(string summaryMerge, ulong[] believed)
    {
        await using var state = new RegionState(Options(summaryMerge), "a", NullLoggerFactory.Instance);
        long now = state.NowMs;
        state.Merge(FromB(1, now, "b1"));
        state.Router.RecordCached("b1", [7UL, 8UL]); // e.g. this node just routed a prompt there

        state.Merge(FromB(2, now, "b1")); // the next digest lists only the replica's hottest blocks, 1 and 2

        Assert.Equal(believed, state.Router.Summarize("b1").Hashes.Order());
    }

    [Fact]
    public void An_unknown_summary_merge_is_refused_at_start_up()
    {
        var ex = Assert.Throws<Gorgo.Routing.Options.RoutingOptionsException>(() => Options("merge").EnsureValid("a"));
        Assert.Contains("SummaryMerge", ex.Message);
    }

    [Fact]
    public async Task A_restarted_origin_is_recognised_by_its_incarnation()
    {
        await using var state = new RegionState(Options(), "a", NullLoggerFactory.Instance);
        long now = state.NowMs;
        state.Merge(FromB(50, now, "b1"));
        Digest restarted = FromB(1, now, "b9");
        restarted.Incarnation = 2;
        Assert.True(state.Merge(restarted));
        Assert.Equal(["b9"], state.Router.Replicas.Select(r => r.Id));
    }

    [Fact]
    public async Task Silent_origins_are_forgotten()
    {
        await using var state = new RegionState(Options(), "a", NullLoggerFactory.Instance);
        state.Merge(FromB(1, state.NowMs - 5_000, "b1"));
        Assert.Equal(["b"], state.ExpireStale());
        Assert.Empty(state.Router.Replicas);
        Assert.Empty(state.KnownRegions());
    }

    [Fact]
    public async Task Gossip_round_trips_carry_digests_both_ways_through_messagepack()
    {
        await using var a = new RegionState(Options(), "a", NullLoggerFactory.Instance);
        await using var b = new RegionState(Options(), "b", NullLoggerFactory.Instance);
        b.Merge(new Digest { Origin = "a", Incarnation = a.Incarnation, Version = 0, CreatedAtUnixMs = a.NowMs });
        byte[] request = a.MakeGossip();
        byte[] reply = b.HandleGossip(request);
        a.HandleGossipReply(reply);
        Assert.Equal(["b"], a.KnownRegions());
        Assert.Equal(["a"], b.KnownRegions());
        Assert.True(a.Stats.GossipBytesSent > 0 && a.Stats.GossipBytesReceived > 0);
    }

    [Fact]
    public async Task Rtt_probes_are_smoothed_into_the_routers_matrix()
    {
        await using var state = new RegionState(Options(), "a", NullLoggerFactory.Instance);
        Assert.Equal(100, state.RecordRtt("b", 100));
        Assert.Equal(0.3 * 200 + 0.7 * 100, state.RecordRtt("b", 200), 9);
        Assert.Equal(130, state.Router.Rtt.Get("a", "b"), 9);
        Assert.Equal(130, state.Router.Rtt.Get("b", "a"), 9);
        Assert.True(double.IsNaN(state.RecordRtt("mars", 5)));
    }

    [Fact]
    public async Task The_admission_gate_queues_a_bounded_number_then_refuses()
    {
        var gate = new AdmissionGate(new AdmissionOptions { MaxConcurrentRequests = 1, MaxQueuedRequests = 1, QueueTimeoutMs = 5_000 });
        IDisposable? first = await gate.EnterAsync(CancellationToken.None);
        Assert.NotNull(first);
        ValueTask<IDisposable?> queued = gate.EnterAsync(CancellationToken.None);
        Assert.False(queued.IsCompleted);
        Assert.Null(await gate.EnterAsync(CancellationToken.None)); // queue full
        first!.Dispose();
        IDisposable? second = await queued;
        Assert.NotNull(second);
        second!.Dispose();
        Assert.Equal(0, gate.Serving);
    }
}
