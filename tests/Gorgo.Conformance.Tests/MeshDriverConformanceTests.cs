using System.Buffers;
using System.Text.Json;
using Gorgo.Engine.Model;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using Gorgo.Scenarios;
using Gorgo.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Conformance.Tests;

/// <summary>
/// The live driver of a mesh node (<see cref="RegionState"/>, behind Orleans) and the simulator's
/// (<see cref="MeshDriver"/>, behind the event loop) given the same local loads, cache events, peer messages and
/// clock ticks: both must leave the same router view and send the same bytes, since both only move bytes and time
/// into the one <see cref="RegionNode"/>.
/// </summary>
public sealed class MeshDriverConformanceTests : IAsyncLifetime
{
    private const int A = 0;
    private readonly Scenario _scenario;
    private readonly ManualClock _liveClock = new(VirtualClock.Epoch);
    private readonly SimRun _sim;
    private readonly MeshDriver _simDriver;
    private readonly RegionState _live;
    private readonly RegionNode _b;
    private readonly RegionNode _c;
    private readonly List<(string Step, byte[] Live, byte[] Sim)> _sent = [];

    public MeshDriverConformanceTests()
    {
        _scenario = new Scenario
        {
            Name = "conformance",
            Regions = ["a", "b", "c"],
            Rtt = new RttSpec { Inline = new() { ["a"] = new() { ["b"] = 40, ["c"] = 90 }, ["b"] = new() { ["c"] = 60 } } },
            Replicas = new ReplicaSpec { PerRegion = 1, Counts = new() { ["a"] = 2 }, Model = "m" },
            Trace = new TraceSpec { File = "unused.jsonl" },
            Mesh = new MeshSpec { Gossip = new GossipOptions { IntervalMs = 100, Fanout = 2, DigestBudgetBytes = 1_024, OriginTimeoutMs = 1_000, SummaryMerge = PrefixMergeMode.Union } },
            Runs = [new RunSpec { Name = "gossip" }],
        };
        RttMatrix rtt = ScenarioRtt.Build(_scenario);
        _sim = new SimRun(_scenario, _scenario.Runs[0], RunKind.Mesh, rtt, Simulation.ProfileOf(_scenario), keepRecords: false);
        _simDriver = (MeshDriver)_sim.Driver;
        _live = new RegionState(LiveOptions(_scenario, rtt), "a", NullLoggerFactory.Instance, _liveClock, runReplicas: false);
        _b = Peer("b", rtt, "b-1");
        _c = Peer("c", rtt, "c-1");
    }

    private RegionNode LiveNode => _live.Node;

    private RegionNode SimNode => _simDriver.Node(A);

    [Fact]
    public void Both_drivers_leave_the_same_view_and_send_the_same_bytes()
    {
        // Local loads and cache events.
        Both(view => _live.OnLocalLoad(view), view => _simDriver.OnLocalLoad(A, view), Local("a-1", running: 3, queuedTokens: 700));
        Both(view => _live.OnLocalLoad(view), view => _simDriver.OnLocalLoad(A, view), Local("a-2", running: 0, queuedTokens: 0));
        CacheEvent[] first = [Stored(1, 101), Stored(2, 102), Stored(3, 103), Stored(4, 104)];
        _live.OnCacheEvents("a-1", first);
        _simDriver.OnCacheEvents(A, "a-1", first);
        Same("after local loads and cache events");

        // A peer's gossip comes in; the reply goes out.
        PeerLoad(_b, "b-1", running: 5, blocks: [201, 202, 203]);
        byte[] fromB = _b.MakeGossip(Now).ToArray();
        Sent("reply to b", _live.OnGossip(fromB), _simDriver.OnGossip(A, new(fromB)).ToArray());
        Same("after b's gossip");

        // Time passes; more local events; this node gossips to c and c replies.
        Advance(250);
        CacheEvent[] second = [Removed(5, 102), Stored(6, 105), Stored(7, 106)];
        _live.OnCacheEvents("a-1", second);
        _simDriver.OnCacheEvents(A, "a-1", second);
        Both(view => _live.OnLocalLoad(view), view => _simDriver.OnLocalLoad(A, view), Local("a-2", running: 2, queuedTokens: 300));
        byte[] liveGossip = _live.MakeGossip("c");
        Sent("gossip to c", liveGossip, _simDriver.MakeGossip(A, "c").ToArray());
        PeerLoad(_c, "c-1", running: 1, blocks: [301]);
        byte[] fromC = _c.HandleGossip(liveGossip, Now);
        _live.OnGossipReply(fromC);
        _simDriver.OnGossipReply(A, new(fromC));
        Same("after c's reply");

        // c confirmed this node's digest: the next to c is a delta on it.
        Advance(100);
        CacheEvent[] third = [Removed(8, 101), Stored(9, 107)];
        _live.OnCacheEvents("a-1", third);
        _simDriver.OnCacheEvents(A, "a-1", third);
        byte[] liveDelta = _live.MakeGossip("c");
        Sent("delta to c", liveDelta, _simDriver.MakeGossip(A, "c").ToArray());
        Assert.Equal((1L, 1L), (LiveNode.Stats.DeltasMade, SimNode.Stats.DeltasMade));
        fromC = _c.HandleGossip(liveDelta, Now);
        Assert.Contains(107UL, _c.Router.Summarize("a-1").Hashes); // the block added since (this scenario merges by union, so c keeps 101)
        _live.OnGossipReply(fromC);
        _simDriver.OnGossipReply(A, new(fromC));
        Same("after c's reply to the delta");

        // A sync answer from b (the sync setting) and a query from c.
        Advance(400);
        PeerLoad(_b, "b-1", running: 9, blocks: [204]);
        byte[] answer = _b.AnswerSync(Now);
        _live.OnSyncAnswer(answer);
        _simDriver.OnSyncAnswer(A, answer);
        Sent("sync answer to c", _live.OnSyncQuery("c"), _simDriver.OnSyncQuery(A, requester: 2));
        Same("after sync");

        // Stale gossip is ignored; a round ends after c's digest has gone quiet but b's has not.
        Sent("reply to b's stale gossip", _live.OnGossip(fromB), _simDriver.OnGossip(A, new(fromB)).ToArray());
        Advance(600); // c's digest (made at 250 ms) is now 1,000 ms old, b's (650 ms) 600 ms: both kept
        Assert.Empty(Ends());
        Advance(100); // c's 1,100 ms: forgotten
        Assert.Equal(["c"], Ends());
        Same("after expiry");

        Assert.Equal(5, _sent.Count);
        foreach ((string step, byte[] live, byte[] sim) in _sent)
        {
            Assert.True(live.AsSpan().SequenceEqual(sim), $"The drivers sent different bytes: {step}.");
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _live.DisposeAsync();

    private long Now => VirtualClock.UnixMs(_sim.Context.NowMs);

    private static MeshOptions LiveOptions(Scenario scenario, RttMatrix rtt)
    {
        int port = 20_000;
        return new MeshOptions
        {
            Regions = scenario.Regions.ToDictionary(r => r, _ => new RegionEndpointOptions { IngressUrl = $"http://127.0.0.1:{port++}", SiloPort = port++, GatewayPort = port++ }),
            Rtt = scenario.Regions.ToDictionary(a => a, a => scenario.Regions.Where(b => b != a).ToDictionary(b => b, b => rtt.Get(a, b))),
            Replicas = scenario.Regions.SelectMany(r => scenario.ReplicaIds(r).Select(id => new ReplicaOptions { Id = id, Region = r, Model = "m" })).ToList(),
            Gossip = scenario.Mesh.Gossip,
            Probes = scenario.Mesh.Probes,
            NearestRegions = scenario.Mesh.NearestRegions,
        };
    }

    private RegionNode Peer(string region, RttMatrix rtt, string replica)
    {
        var router = new Router(new RouterOptions { Region = region }, rtt, _liveClock);
        return new RegionNode(MeshDriver.NodeOptions(region, ConsistencyMode.Gossip, _sim.Context), router, rtt, VirtualClock.UnixMs(0), [replica]);
    }

    private void PeerLoad(RegionNode peer, string replica, int running, ulong[] blocks)
    {
        peer.UpdateLocal(Local(replica, running, queuedTokens: 100) with { Region = peer.Region });
        peer.RecordCache(replica, blocks, []);
    }

    private ReplicaView Local(string id, int running, long queuedTokens) => new()
    {
        Id = id,
        Region = "a",
        Model = "m",
        RunningRequests = running,
        RunningTokens = running * 400L,
        RunningPrefillTokens = running * 50L,
        DecodeMsPerRequest = 1_500 + running,
        QueuedTokens = queuedTokens,
        QueuedRequests = queuedTokens > 0 ? 1 : 0,
        KvCacheUtilization = 0.25,
        PrefillMsPerToken = 0.05,
        MaxRunningRequests = 8,
        MaxContextTokens = 8_192,
        TakenAtMs = Now - 20,
    };

    private static CacheEvent Stored(long sequence, ulong hash) => new(sequence, CacheEventKind.Stored, hash);

    private static CacheEvent Removed(long sequence, ulong hash) => new(sequence, CacheEventKind.Removed, hash);

    private static void Both<T>(Action<T> live, Action<T> sim, T input)
    {
        live(input);
        sim(input);
    }

    private void Sent(string step, byte[] live, byte[] sim) => _sent.Add((step, live, sim));

    private IReadOnlyList<string> Ends()
    {
        IReadOnlyList<string> live = _live.OnRoundEnd();
        Assert.Equal(live, _simDriver.OnRoundEnd(A));
        return live;
    }

    private void Advance(double ms)
    {
        _sim.Context.Clock.AdvanceTo(_sim.Context.NowMs + ms);
        _liveClock.Now = VirtualClock.Epoch.AddTicks((long)(_sim.Context.NowMs * TimeSpan.TicksPerMillisecond));
    }

    /// <summary>The two nodes' views: every replica's snapshot and believed blocks, the regions held, the description.</summary>
    private void Same(string step)
    {
        Assert.True(LiveNode.Router.Replicas.Count > 0, step);
        Assert.Equal(View(LiveNode.Router), View(SimNode.Router));
        Assert.Equal(LiveNode.KnownRegions(), SimNode.KnownRegions());
        Assert.Equal(JsonSerializer.Serialize(LiveNode.Describe(Now)), JsonSerializer.Serialize(SimNode.Describe(Now)));
    }

    private static string[] View(Router router) => router.Replicas
        .OrderBy(r => r.Id, StringComparer.Ordinal)
        .Select(r => $"{r} blocks [{string.Join(",", router.Summarize(r.Id).Hashes)}]")
        .ToArray();

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
