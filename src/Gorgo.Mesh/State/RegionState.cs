using System.Buffers;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Gorgo.Engine.Model;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Options;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.State;

/// <summary>
/// The live driver of one node's <see cref="RegionNode"/>: runs the region's replicas, feeds their load reports and
/// cache events to the node, and gives it the time. Gossip, probes and sync queries reach the node through the
/// region grain and <see cref="Gossip.GossipService"/>; requests read the node's router directly, so routing never
/// waits on a grain turn.
/// </summary>
public sealed class RegionState : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<Task> _pumps = [];
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _draining;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CancellationTokenSource> _reachable = new(StringComparer.Ordinal);

    /// <summary>Creates the state of the node of <paramref name="region"/> and starts its local replicas.</summary>
    public RegionState(MeshOptions options, string region, ILoggerFactory loggers, TimeProvider? time = null)
        : this(options, region, loggers, time, runReplicas: true)
    {
    }

    /// <summary>Creates the state; without <paramref name="runReplicas"/> the node knows its replicas' ids but nothing runs them (tests feed their loads and cache events).</summary>
    internal RegionState(MeshOptions options, string region, ILoggerFactory loggers, TimeProvider? time, bool runReplicas)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        Options = options.EnsureValid(region);
        _logger = loggers.CreateLogger<RegionState>();
        _time = time ?? TimeProvider.System;
        RttMatrix rtt = options.BuildRtt();
        var router = new Router(
            RegionNode.RouterOptions(new RouterOptions { Region = region, Policy = options.Policy, Cost = options.Cost, MaxStateAgeMs = options.MaxStateAgeMs, NearestRegions = options.NearestRegions, CountPeerPendingWork = options.CountPeerPendingWork }),
            rtt,
            _time);
        List<ReplicaOptions> local = options.Replicas.Where(r => r.Region == region).ToList();
        Node = new RegionNode(options.NodeOptions(region), router, rtt, _time.GetUtcNow().ToUnixTimeMilliseconds(), local.Select(r => r.Id).ToArray());
        Node.Warning += message => _logger.LogWarning("{Message}", message);
        Local = runReplicas
            ? local.Select(r => LocalReplica.Create(r, TimeSpan.FromMilliseconds(options.LoadReportIntervalMs), loggers)).ToDictionary(r => r.Id, StringComparer.Ordinal)
            : new Dictionary<string, LocalReplica>(StringComparer.Ordinal);
        KvFeeds = Local.Values
            .Where(r => r.Options.KvEvents is not null)
            .ToDictionary(r => r.Id, r => new KvEventFeed(r.Id, r.Options.KvEvents!, router, loggers.CreateLogger<KvEventFeed>()), StringComparer.Ordinal);
        foreach (LocalReplica replica in Local.Values)
        {
            replica.Monitor.Updated += _ => PublishLocal(replica);
            if (replica.Engine is { } engine)
            {
                ChannelReader<CacheEvent> events = engine.SubscribeCacheEvents();
                _pumps.Add(Task.Run(() => PumpCacheEventsAsync(replica.Id, events, _stop.Token)));
            }

            replica.Monitor.Start();
        }
    }

    /// <summary>The configuration.</summary>
    public MeshOptions Options { get; }

    /// <summary>The mesh protocol's state of this node.</summary>
    public RegionNode Node { get; }

    /// <summary>This node's region.</summary>
    public string Region => Node.Region;

    /// <summary>The configured RTT matrix (the WAN emulation's ground truth and the router's starting estimates).</summary>
    public RttMatrix ConfiguredRtt => Node.ConfiguredRtt;

    /// <summary>The router deciding for this node.</summary>
    public Router Router => Node.Router;

    /// <summary>This region's replicas by id.</summary>
    public IReadOnlyDictionary<string, LocalReplica> Local { get; }

    /// <summary>The KV event feeds of this region's HTTP replicas that publish them, by replica id.</summary>
    public IReadOnlyDictionary<string, KvEventFeed> KvFeeds { get; }

    /// <summary>Counters.</summary>
    public MeshStats Stats => Node.Stats;

    /// <summary>This node's consistency setting.</summary>
    public ConsistencyMode Consistency => Node.Consistency;

    /// <summary>Now, Unix ms.</summary>
    public long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Whether the node is draining: its replicas are reported <see cref="ReplicaHealth.Draining"/>, so no router sends them new work.</summary>
    public bool Draining => _draining;

    /// <summary>Requests running on this node's replicas now.</summary>
    public int InFlight => Local.Values.Sum(r => r.InFlight);

    /// <summary>Starts draining: every local replica is reported <see cref="ReplicaHealth.Draining"/> from now on, to this node's router and in its digests.</summary>
    public void BeginDrain()
    {
        _draining = true;
        foreach (LocalReplica replica in Local.Values)
        {
            PublishLocal(replica);
        }
    }

    /// <summary>
    /// Records whether a call to a peer region succeeded (see <see cref="RegionNode.RecordCall"/>); when the region
    /// becomes unreachable, calls waiting on it are abandoned (<see cref="WhileReachable"/>) so that they are retried or
    /// ended elsewhere instead of stalling until the response timeout.
    /// </summary>
    public void RecordCall(string peer, bool succeeded)
    {
        if (!Node.RecordCall(peer, succeeded))
        {
            return;
        }

        if (succeeded)
        {
            _logger.LogWarning("Region {Peer} is reachable again; routing to it resumes", peer);
            return;
        }

        _logger.LogWarning("Region {Peer} is unreachable ({Failures} calls failed in a row); routing around it", peer, Options.Probes.UnreachableAfterFailures);
        if (_reachable.TryRemove(peer, out CancellationTokenSource? lost))
        {
            lost.Cancel();
            lost.Dispose();
        }
    }

    /// <summary>A token cancelled when <paramref name="region"/> becomes unreachable from this node (never for this node's own region).</summary>
    public CancellationToken WhileReachable(string region) =>
        region == Region ? CancellationToken.None : _reachable.GetOrAdd(region, static _ => new CancellationTokenSource()).Token;

    /// <summary>The backend of a local replica, or null when the replica is not served by this node.</summary>
    public LocalReplica? FindLocal(string id) => Local.GetValueOrDefault(id);

    /// <summary>
    /// Each region this node follows, as <c>/health</c> reports it: <c>up</c> (a digest is held and some replica takes
    /// work), <c>draining</c> (all its replicas drain), <c>unreachable</c> (this node's calls there fail: routed around),
    /// <c>down</c> (no digest: dead, partitioned away, or not started).
    /// </summary>
    public IReadOnlyDictionary<string, string> RegionStatuses()
    {
        var known = Node.KnownRegions().ToHashSet(StringComparer.Ordinal);
        var draining = Router.Replicas.GroupBy(r => r.Region, StringComparer.Ordinal)
            .Where(g => g.All(r => r.Health == ReplicaHealth.Draining))
            .Select(g => g.Key)
            .ToHashSet(StringComparer.Ordinal);
        return ConfiguredRtt.Regions
            .Where(r => r != Region && Node.Interested(r))
            .Order(StringComparer.Ordinal)
            .ToDictionary(r => r, r => !known.Contains(r) ? "down" : !Node.IsReachable(r) ? "unreachable" : draining.Contains(r) ? "draining" : "up", StringComparer.Ordinal);
    }

    /// <summary>The node's view now, for <c>/mesh/state</c>.</summary>
    public RegionNodeState Describe() => Node.Describe(NowMs);

    // The live driver's inputs to the node, one per kind of event, each given the time: load reports and cache
    // events from the replicas; gossip, replies and sync messages through the region grain and the gossip service.

    /// <summary>A local replica's load report: to the node (and so the router) at once.</summary>
    internal void OnLocalLoad(ReplicaView view) => Node.UpdateLocal(view);

    /// <summary>A batch of a local replica's cache events: removals and stores, in one call to the node.</summary>
    internal void OnCacheEvents(string replicaId, IReadOnlyList<CacheEvent> events)
    {
        var stored = new List<ulong>();
        var removed = new List<ulong>();
        CacheEvents.Split(events, stored, removed);
        Node.RecordCache(replicaId, CollectionsMarshal.AsSpan(stored), CollectionsMarshal.AsSpan(removed));
    }

    /// <summary>The gossip this node sends <paramref name="peer"/> now (whole when null).</summary>
    internal byte[] MakeGossip(string? peer = null) => Node.MakeGossip(NowMs, peer).ToArray();

    /// <summary>A peer's gossip (through the region grain): merged, and the reply returned.</summary>
    internal byte[] OnGossip(byte[] request) => Node.HandleGossip(request, NowMs);

    /// <summary>A peer's reply to this node's gossip.</summary>
    internal void OnGossipReply(byte[] reply) => Node.HandleGossipReply(reply, NowMs);

    /// <summary>A gossip round's exchanges are over: regions gone quiet are forgotten.</summary>
    internal IReadOnlyList<string> OnRoundEnd() => Node.ExpireStale(NowMs);

    /// <summary>A peer's sync query (through the region grain): this node's exact state.</summary>
    internal byte[] OnSyncQuery(string? requester = null) => Node.AnswerSync(NowMs, requester);

    /// <summary>A peer's answer to this node's sync query.</summary>
    internal void OnSyncAnswer(byte[] answer) => Node.ApplySync(answer, NowMs);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (KvEventFeed feed in KvFeeds.Values)
        {
            feed.Dispose();
        }

        foreach (LocalReplica replica in Local.Values)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_pumps).ConfigureAwait(false);
        _stop.Dispose();
    }

    private void PublishLocal(LocalReplica replica)
    {
        if (replica.CurrentView(Region) is { } view)
        {
            OnLocalLoad(_draining ? view with { Health = ReplicaHealth.Draining } : view);
            KvFeeds.GetValueOrDefault(replica.Id)?.Sync();
        }
    }

    private async Task PumpCacheEventsAsync(string replicaId, ChannelReader<CacheEvent> events, CancellationToken stop)
    {
        var batch = new List<CacheEvent>();
        try
        {
            while (await events.WaitToReadAsync(stop).ConfigureAwait(false))
            {
                while (events.TryRead(out CacheEvent e))
                {
                    batch.Add(e);
                }

                OnCacheEvents(replicaId, batch);
                batch.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
