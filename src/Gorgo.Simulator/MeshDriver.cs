using System.Buffers;
using System.Runtime.InteropServices;
using Gorgo.Engine.Model;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Core.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator;

/// <summary>
/// The simulator's driver of the mesh protocol: a <see cref="RegionNode"/> per region, the same code a live node
/// runs, driven in virtual time. It delivers the nodes' encoded gossip and sync messages after half the RTT, gives
/// them their replicas' load every load-report interval and their cache events as they happen, and routes each
/// request on the router of its user's region.
/// </summary>
/// <remarks>
/// As live: gossip rounds run every interval from a random phase, each to <c>fanout</c> peers the node chooses; a
/// round waits for its replies (a tick that falls due meanwhile starts the next round as soon as they are in, so far
/// peers stretch the interval), then the node forgets regions gone quiet. <c>sync</c> decisions wait for every
/// followed peer's exact state. RTTs are static, so probes would return them unchanged and are not simulated. Under
/// the simulator-only <c>shared</c> setting nodes do not gossip: every node sees every nearby replica's load and
/// cache events the moment its own node does.
/// </remarks>
internal sealed class MeshDriver : RunDriver
{
    private readonly NodeSlot?[] _nodes;
    private readonly ConsistencyMode _consistency;
    private readonly int _gossipIntervalMs;
    private readonly List<CacheEvent> _cacheEvents = [];
    private readonly List<ulong> _stored = [];
    private readonly List<ulong> _removed = [];
    private readonly RouterOptions _routerBase;
    private readonly RegionNodeOptions _nodeBase;
    private readonly SharedDigestDecoder _decoder;
    private readonly MeshFaults? _faults;
    private readonly CacheViewMode _cacheView;

    /// <summary>Builds a node per region with its router on the virtual clock.</summary>
    public MeshDriver(SimContext context, SimFleet fleet, RunResults results, ConsistencyMode consistency, RouterOptions routerBase)
        : base(context, fleet, results)
    {
        _consistency = consistency;
        _routerBase = routerBase = RegionNode.RouterOptions(routerBase);
        _cacheView = context.Run.CacheView ?? CacheViewMode.Hybrid;
        RegionNodeOptions nodeBase = _nodeBase = NodeOptions(context.Scenario.Regions[0], consistency, context);
        _gossipIntervalMs = nodeBase.Gossip.IntervalMs;
        _nodes = new NodeSlot?[context.RttMatrix.Regions.Count];
        var decoder = _decoder = new SharedDigestDecoder(); // a digest reaching several nodes is decoded once (same bytes, same content)
        string[] allRegions = context.Scenario.Regions.OrderBy(context.RttMatrix.IndexOf).ToArray();
        foreach (string name in context.Scenario.Regions)
        {
            int region = context.RttMatrix.IndexOf(name);
            SimReplica[] local = fleet.Replicas.Where(r => r.Region == region).ToArray();
            var router = new Router(routerBase with { Region = name }, context.RttMatrix, context.Clock);
            // Every node starts at virtual time zero, as a live node's incarnation is its start time.
            var node = new RegionNode(nodeBase with { Region = name }, router, context.RttMatrix, VirtualClock.UnixMs(0), local.Select(r => r.Id).ToArray(), decoder);
            _nodes[region] = new NodeSlot(region, node, local);
        }

        foreach (NodeSlot slot in Nodes)
        {
            slot.Peers = slot.Node.GossipPeers(allRegions).Select(context.RttMatrix.IndexOf).ToArray();
            slot.Pool = fleet.Replicas.Where(r => slot.Node.Interested(context.RegionName(r.Region))).Select(r => r.Index).ToArray();
        }

        SetObservers();
        if (context.Scenario.Faults.Count > 0)
        {
            _faults = new MeshFaults(context, fleet, results, this);
            results.Ended = _faults.Untrack;
        }
    }

    /// <summary>Whose nodes learn a region's loads and cache events directly: its own, or under "shared" every node following it.</summary>
    private void SetObservers()
    {
        foreach (NodeSlot slot in Nodes)
        {
            slot.Observers = Nodes.Where(n => n != slot && _consistency == ConsistencyMode.Shared && n.Node.Interested(slot.Node.Region)).Select(n => n.Node).ToArray();
        }
    }

    private IEnumerable<NodeSlot> Nodes => _nodes.OfType<NodeSlot>();

    /// <summary>The mesh protocol options a node of this run uses: the scenario's gossip settings with the run's own summary merge and interval.</summary>
    public static RegionNodeOptions NodeOptions(string region, ConsistencyMode consistency, SimContext context) =>
        new()
        {
            Region = region,
            Consistency = consistency,
            Gossip = context.Run.EffectiveGossip(context.Scenario.Mesh.Gossip),
            Probes = context.Scenario.Mesh.Probes,
            NearestRegions = context.Scenario.Mesh.NearestRegions,
            Scope = context.Run.EffectiveScope,
            RebindOnArrival = context.Run.RebindOnArrival ?? true,
            RelayFactor = context.Run.RelayFactor ?? RegionNodeOptions.DefaultRelayFactor,
        };

    /// <summary>The node of a region (by RTT-matrix index).</summary>
    public RegionNode Node(int region) => _nodes[region]!.Node;

    /// <inheritdoc />
    public override void Start()
    {
        foreach (NodeSlot slot in Nodes)
        {
            ReportLoad(slot);
            Context.At(Context.Random.NextDouble() * Context.Scenario.Mesh.LoadReportIntervalMs, new SimEvent(EventKind.LoadReport, slot.Region));
            if (_nodes.Count(n => n is not null) > 1 && _consistency != ConsistencyMode.Shared)
            {
                Context.At(Context.Random.NextDouble() * _gossipIntervalMs, new SimEvent(EventKind.GossipRound, slot.Region));
            }
        }

        // Gossip converges before the workload starts, as the live harness waits for convergence.
        long now = Context.NowUnixMs;
        foreach (NodeSlot a in Nodes)
        {
            foreach (NodeSlot b in Nodes.Where(b => b != a && b.Node.Interested(a.Node.Region)))
            {
                b.Node.Merge(a.Node.MakeDigest(now), now);
            }
        }

        _faults?.Start();
    }

    /// <inheritdoc />
    public override int IngressOf(int user) => _faults?.EntryFor(user) ?? user;

    /// <inheritdoc />
    public override void OnArrival(SimRequest request)
    {
        if (request.Ingress < 0)
        {
            Results.Fail(request, 0, "No node takes requests: every region's node is down.");
            return;
        }

        _faults?.Track(request);
        ForecastOutcomes(request); // a mesh client is in its node's region: it reaches the node at once
        Enter(request);
    }

    /// <summary>Faults only: a request whose node died before its first token, sent again by its client to its new ingress.</summary>
    internal void Reenter(SimRequest request) => Enter(request);

    /// <summary>Faults only: the request's node retries it on its next best replica at <paramref name="atMs"/>.</summary>
    internal void Retry(SimRequest request, double atMs) => Context.At(atMs, new SimEvent(EventKind.Decide, request.Ingress, request, request.Epoch));

    /// <summary>The request reaches its node (after the client leg) and, under <c>sync</c>, waits for its peers' states, then is routed.</summary>
    private void Enter(SimRequest request)
    {
        double clientLeg = Context.OneWay(request.User, request.Ingress, sameRegionFree: true);
        if (_consistency == ConsistencyMode.Sync)
        {
            NodeSlot ingress = _nodes[request.Ingress]!;
            foreach (int peer in ingress.Peers)
            {
                if (_faults is not null && !ingress.Node.IsReachable(Context.RegionName(peer)))
                {
                    continue; // as live: probes tell when it is back
                }

                request.PendingSync++;
                var query = new SyncExchange(request, peer, Epoch: request.Epoch);
                if (_faults is not null && (!_faults.IsUp(peer) || _faults.Partitioned(ingress.Region, peer)))
                {
                    // Unanswered: the node gives up on that peer after the exchange timeout.
                    Context.At(Context.NowMs + clientLeg + ExchangeTimeoutMs(ingress.Region, peer), new SimEvent(EventKind.SyncAnswer, request.Ingress, query));
                    continue;
                }

                Context.At(Context.NowMs + clientLeg + (Context.Rtt(ingress.Region, peer) / 2), new SimEvent(EventKind.SyncQuery, peer, query));
            }

            ingress.Node.Stats.SyncQueried(request.PendingSync);
            if (request.PendingSync > 0)
            {
                return;
            }
        }

        Context.Then(Context.NowMs + clientLeg, new SimEvent(EventKind.Decide, request.Ingress, request, request.Epoch));
    }

    /// <summary>How long a live node waits for a peer's gossip reply or sync answer: 1 s plus twice the RTT.</summary>
    private double ExchangeTimeoutMs(int from, int to) => 1_000 + (2 * Context.Rtt(from, to));

    /// <inheritdoc />
    public override void Handle(in SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Decide:
                if (e.Payload is SimRequest { Done: false } deciding && deciding.Epoch == e.Stamp)
                {
                    Decide(deciding);
                }

                break;
            case EventKind.FaultStep:
                ((Action)e.Payload!)();
                break;
            case EventKind.SyncQuery:
                OnSyncQuery((SyncExchange)e.Payload!);
                break;
            case EventKind.SyncAnswer:
                OnSyncAnswer((SyncExchange)e.Payload!);
                break;
            case EventKind.LoadReport:
                if (_faults?.IsUp(e.Target) != false)
                {
                    ReportLoad(_nodes[e.Target]!);
                }

                if (Context.Busy)
                {
                    Context.At(Context.NowMs + Context.Scenario.Mesh.LoadReportIntervalMs, e);
                }

                break;
            case EventKind.GossipRound:
                if (_faults?.IsUp(e.Target) != false)
                {
                    GossipRound(_nodes[e.Target]!);
                }

                if (Context.Busy)
                {
                    Context.At(Context.NowMs + _gossipIntervalMs, e);
                }

                break;
            case EventKind.GossipDelivery:
                OnGossip((SimGossip)e.Payload!);
                break;
            default:
                throw new InvalidOperationException($"The mesh has no event {e.Kind}.");
        }
    }

    /// <inheritdoc />
    public override double ReturnLegMs(SimRequest request, SimReplica replica) => (request.RelayRegion is { } relay
        ? Context.OneWay(replica.Region, relay, sameRegionFree: true) + Context.OneWay(relay, request.Ingress, sameRegionFree: true)
        : Context.OneWay(replica.Region, request.Ingress, sameRegionFree: true)) + Context.OneWay(request.Ingress, request.User, sameRegionFree: true);

    /// <inheritdoc />
    public override double ForwardLegMs(SimRequest request, SimReplica replica) => Context.OneWay(request.Ingress, replica.Region, sameRegionFree: true);

    /// <inheritdoc />
    public override int[] Pool(SimRequest request) => _nodes[request.Ingress]!.Pool;

    /// <inheritdoc />
    public override void OnStepped(SimReplica replica)
    {
        _cacheEvents.Clear();
        replica.Engine.DrainCacheEvents(_cacheEvents);
        if (_cacheEvents.Count > 0 && _cacheView != CacheViewMode.Decisions)
        {
            OnCacheEvents(replica.Region, replica.Id, _cacheEvents);
        }
    }

    /// <inheritdoc />
    public override RunSummary Summarize(RunSummary summary)
    {
        double seconds = Math.Max(Context.NowMs, 1) / 1000;
        double perNode = Nodes.Average(n => n.Node.Stats.GossipBytesSent) / seconds;
        summary = summary with { GossipBytesPerNodePerS = Math.Round(perNode, 1) };
        return _faults is null ? summary : FaultMetrics.Apply(summary, _faults.Executed, Results.Records!, id => Context.RegionName(Fleet[id].Region));
    }

    // The driver's inputs to a region's node, one per kind of event, each given the virtual time: load reports and
    // cache events from the engines; gossip, replies and sync messages as the event loop delivers them.

    /// <summary>A local replica's load report: to its node at once (and, under <c>shared</c>, to every node following the region).</summary>
    internal void OnLocalLoad(int region, ReplicaView view)
    {
        NodeSlot slot = _nodes[region]!;
        slot.Node.UpdateLocal(view);
        if (_cacheView == CacheViewMode.Exact)
        {
            slot.Node.Router.SetCacheView(view.Id, CacheViewKind.Exact); // as a live node does once it holds the engine's events
        }

        foreach (RegionNode observer in slot.Observers)
        {
            observer.ObserveExact(view);
        }
    }

    /// <summary>A batch of a replica's cache events: removals and stores, in one call to its node (and, under <c>shared</c>, to every node following the region).</summary>
    internal void OnCacheEvents(int region, string replicaId, IReadOnlyList<CacheEvent> events)
    {
        _stored.Clear();
        _removed.Clear();
        CacheEvents.Split(events, _stored, _removed);
        NodeSlot slot = _nodes[region]!;
        slot.Node.RecordCache(replicaId, CollectionsMarshal.AsSpan(_stored), CollectionsMarshal.AsSpan(_removed));
        foreach (RegionNode observer in slot.Observers)
        {
            observer.RecordCache(replicaId, CollectionsMarshal.AsSpan(_stored), CollectionsMarshal.AsSpan(_removed));
        }
    }

    /// <summary>The gossip a region's node sends <paramref name="peer"/> now (whole when null).</summary>
    internal ReadOnlySequence<byte> MakeGossip(int region, string? peer = null) => _nodes[region]!.Node.MakeGossip(Context.NowUnixMs, peer);

    /// <summary>A peer's gossip reaches a region's node: merged, and the reply returned.</summary>
    internal ReadOnlySequence<byte> OnGossip(int region, ReadOnlySequence<byte> request) => _nodes[region]!.Node.HandleGossip(request, Context.NowUnixMs);

    /// <summary>A peer's reply reaches the node that gossiped.</summary>
    internal void OnGossipReply(int region, ReadOnlySequence<byte> reply) => _nodes[region]!.Node.HandleGossipReply(reply, Context.NowUnixMs);

    /// <summary>A node's gossip round is over (every reply in): regions gone quiet are forgotten.</summary>
    internal IReadOnlyList<string> OnRoundEnd(int region) => _nodes[region]!.Node.ExpireStale(Context.NowUnixMs);

    /// <summary>A sync query reaches a region's node: its exact state.</summary>
    internal byte[] OnSyncQuery(int region, int? requester = null) => _nodes[region]!.Node.AnswerSync(Context.NowUnixMs, requester is { } r ? Context.RegionName(r) : null);

    /// <summary>A peer's sync answer reaches the node that asked.</summary>
    internal void OnSyncAnswer(int region, byte[] answer) => _nodes[region]!.Node.ApplySync(answer, Context.NowUnixMs);

    private void Decide(SimRequest request)
    {
        RegionNode node = _nodes[request.Ingress]!.Node;
        RoutedChoice decision;
        var routing = new RoutingRequest(request.Prompt, Context.Scenario.Replicas.Model, Context.RegionName(request.User), request.Shape.OutputTokens, request.Shape.Index, node.Scope);
        try
        {
            decision = request.Tried is null ? node.Router.RouteChoice(routing) : NextBest(node, routing, request.Tried, request.LastFailureTransient);
        }
        catch (RoutingException ex)
        {
            Results.Fail(request, ex);
            return;
        }

        node.Stats.Decided(decision.Chosen.Region != node.Region);
        SimReplica replica = Fleet[decision.Chosen.ReplicaId];
        Record(request, replica.Index, decision);
        if (_faults?.Stalls(request, replica) == true)
        {
            return;
        }

        Fleet.Forward(request, replica, Context.OneWay(request.Ingress, replica.Region, sameRegionFree: true), last: true);
    }

    /// <summary>
    /// A request another region's node forwarded reaches its replica: that region's node, when up, routes it again
    /// (<see cref="RegionNode.RouteOnArrival"/>), as a live node's replica grain does: among its own replicas, or, once,
    /// on to another region's, whose response then comes back through this region.
    /// </summary>
    public override SimReplica? OnArriving(SimRequest request, SimReplica replica)
    {
        int sender = request.RelayRegion ?? request.Ingress;
        if (replica.Region == sender || _faults?.IsUp(replica.Region) == false || _nodes[replica.Region] is not { } slot)
        {
            return replica;
        }

        var routing = new RoutingRequest(request.Prompt, Context.Scenario.Replicas.Model, MaxOutputTokens: request.Shape.OutputTokens, RequestId: request.Shape.Index);
        ArrivalChoice choice = slot.Node.RouteOnArrival(routing, replica.Id, Context.RegionName(sender), mayRelay: request.RelayRegion is null, request.EstimatedTtftMs - request.EstimatedNetworkMs);
        request.ArrivalModel = choice.Model is { } model ? (model, Context.NowMs) : null;
        if (string.Equals(choice.ReplicaId, replica.Id, StringComparison.Ordinal))
        {
            return replica;
        }

        SimReplica serving = Fleet[choice.ReplicaId];
        request.ReboundFrom ??= replica.Id;
        request.Replica = serving.Index;
        if (!choice.Relayed)
        {
            return serving;
        }

        request.RelayRegion = replica.Region;
        Fleet.Forward(request, serving, Context.OneWay(replica.Region, serving.Region, sameRegionFree: true));
        return null;
    }

    /// <summary>A retry's choice, as the live front door makes it (<see cref="Retries.Next"/>), on a decision taken now.</summary>
    private static RoutedChoice NextBest(RegionNode node, in RoutingRequest routing, List<string> tried, bool transient)
    {
        RoutingDecision decision = node.Router.Route(routing);
        return Retries.Next(decision.Candidates, tried, node.Router, transient) is { } next
            ? new RoutedChoice(next, decision.Candidates.Count, HomeIdleOverride: false, next.Estimate) // a retry's TTFT is never observed
            : throw new RoutingException(RoutingFailure.NoHealthyReplica, $"No replica left to try after {string.Join(", ", tried)}.");
    }

    /// <summary>
    /// The deciding node learns the request's TTFT against what its model said (its calibration and, for a remote
    /// replica, its region's transit allowance), from a first attempt only, as the live front door does (a retry's TTFT
    /// holds the failed attempts). The engine model reports first-token times when a request finishes, so a node learns
    /// here what a live node learns at the first token.
    /// </summary>
    public override void OnFinished(SimRequest request, SimReplica replica, RequestTiming timing)
    {
        if (request.Attempts != 1)
        {
            return;
        }

        double ttft = timing.FirstTokenMs + ReturnLegMs(request, replica) - request.Shape.ArrivalMs;
        _nodes[request.Ingress]!.Node.Router.Observe(request.ReboundFrom ?? replica.Id, request.BaseQueueMs, request.BasePrefillMs, ttft - request.EstimatedNetworkMs);
        if (request.ArrivalModel is { } arrival && _nodes[replica.Region] is { } owner)
        {
            owner.Node.ObserveArrival(replica.Id, arrival.Model, timing.FirstTokenMs - arrival.AtMs);
        }
    }

    /// <inheritdoc />
    public override void OnAttemptFailed(SimRequest request, SimReplica replica, string reason)
    {
        if (_faults is null)
        {
            base.OnAttemptFailed(request, replica, reason);
            return;
        }

        _faults.FailedAtReplica(request, replica, reason);
    }

    /// <inheritdoc />
    public override bool HoldsCompletion(SimRequest request, SimReplica replica, RequestTiming timing)
    {
        if (_faults?.HoldsCompletion(request) != true)
        {
            return false;
        }

        request.HeldTtftMs = timing.FirstTokenMs + ReturnLegMs(request, replica) - request.Shape.ArrivalMs;
        return true;
    }

    /// <summary>Faults only: a region's node announces it is draining: its replicas reported so to every reachable peer at once.</summary>
    internal void Announce(int region)
    {
        NodeSlot slot = _nodes[region]!;
        ReportLoad(slot);
        foreach (int peer in slot.Peers)
        {
            Send(new SimGossip(region, peer, MakeGossip(region, Context.RegionName(peer)), IsReply: false, Life: slot.Life, Announce: true));
        }
    }

    /// <summary>Faults only: <paramref name="node"/> learns that <paramref name="down"/>'s node is dead.</summary>
    internal void MarkDown(int node, int down)
    {
        if (_faults!.IsUp(node))
        {
            _nodes[node]!.Node.MarkDown(Context.RegionName(down));
        }
    }

    /// <summary>Faults only: a region's node starts again: a new incarnation, a new router, nothing known of its peers until gossip.</summary>
    internal void Restart(int region)
    {
        NodeSlot slot = _nodes[region]!;
        string name = Context.RegionName(region);
        var router = new Router(_routerBase with { Region = name }, Context.RttMatrix, Context.Clock);
        slot.Node = new RegionNode(_nodeBase with { Region = name }, router, Context.RttMatrix, Context.NowUnixMs, slot.Local.Select(r => r.Id).ToArray(), _decoder);
        slot.Life++;
        slot.AwaitedReplies = 0;
        slot.RoundOverdue = false;
        SetObservers();
        ReportLoad(slot);
    }

    private void ReportLoad(NodeSlot slot)
    {
        foreach (SimReplica replica in slot.Local)
        {
            EngineState s = replica.Engine.State;
            var view = new ReplicaView
            {
                Id = replica.Id,
                Region = slot.Node.Region,
                Model = Context.Scenario.Replicas.Model,
                Health = _faults is null ? ReplicaHealth.Healthy : _faults.IsDraining(slot.Region) ? ReplicaHealth.Draining : replica.Failing ? ReplicaHealth.Unhealthy : ReplicaHealth.Healthy,
                RunningRequests = s.RunningRequests,
                QueuedRequests = s.WaitingRequests,
                RunningTokens = s.RunningTokens,
                RunningPrefillTokens = s.RunningPrefillTokens,
                QueuedTokens = s.WaitingTokens,
                DecodeMsPerRequest = s.DecodeMsPerRequest > 0 ? s.DecodeMsPerRequest : null,
                DecodeStepMs = s.DecodeStepMs > 0 ? s.DecodeStepMs : null,
                KvCacheUtilization = s.KvUtilization,
                PrefillMsPerToken = Context.Profile.PrefillMsPerToken,
                MaxRunningRequests = Context.Profile.MaxRunningRequests,
                MaxContextTokens = Context.Profile.MaxContextTokens,
                TakenAtMs = Context.NowUnixMs,
            };
            OnLocalLoad(slot.Region, view);
        }
    }

    private void GossipRound(NodeSlot slot)
    {
        if (slot.AwaitedReplies > 0)
        {
            slot.RoundOverdue = true;
            return;
        }

        // The node chooses among its peers in a fixed order (the RTT matrix's), as a live node among the live members.
        string[] peers = new string[slot.Peers.Length];
        for (int i = 0; i < peers.Length; i++)
        {
            peers[i] = Context.RegionName(slot.Peers[i]);
        }

        ReadOnlySpan<string> chosen = slot.Node.ChoosePeers(peers, Context.Random);
        if (chosen.Length > 0)
        {
            foreach (string peer in chosen)
            {
                Send(new SimGossip(slot.Region, Context.RttMatrix.IndexOf(peer), MakeGossip(slot.Region, peer), IsReply: false, Life: slot.Life));
            }
        }

        slot.AwaitedReplies = chosen.Length;
        if (chosen.Length == 0)
        {
            OnRoundEnd(slot.Region);
        }
    }

    private void OnGossip(SimGossip message)
    {
        NodeSlot slot = _nodes[message.To]!;
        if (message.IsReply)
        {
            if (message.Life != slot.Life)
            {
                return; // for a round of the node's life before it restarted
            }

            if (!message.Lost)
            {
                OnGossipReply(message.To, message.Bytes);
            }

            RecordCall(message.To, message.From, succeeded: !message.Lost);
            if (message.Announce)
            {
                return; // an announcement's reply is merged, as live, but belongs to no round
            }

            if (--slot.AwaitedReplies == 0)
            {
                OnRoundEnd(message.To);
                if (slot.RoundOverdue)
                {
                    slot.RoundOverdue = false;
                    GossipRound(slot);
                }
            }

            return;
        }

        if (_faults?.IsUp(message.To) == false)
        {
            Lose(message);
            return;
        }

        Send(new SimGossip(message.To, message.From, OnGossip(message.To, message.Bytes), IsReply: true, Life: message.Life, Announce: message.Announce));
    }

    private void Send(SimGossip message)
    {
        if (_faults is not null && _faults.Partitioned(message.From, message.To))
        {
            Lose(message);
            return;
        }

        Context.At(Context.NowMs + (Context.Rtt(message.From, message.To) / 2), new SimEvent(EventKind.GossipDelivery, message.To, message));
    }

    /// <summary>Faults only: a node's call to a peer succeeded or failed; a region it stops reaching has its stalled calls abandoned.</summary>
    private void RecordCall(int node, int peer, bool succeeded)
    {
        if (_faults is not null && _nodes[node]!.Node.RecordCall(Context.RegionName(peer), succeeded) && !succeeded)
        {
            _faults.Unreachable(node, peer);
        }
    }

    /// <summary>Faults only: a gossip message that will not arrive (its peer is down or cut off): the node that waits for its reply gives up after the exchange timeout.</summary>
    private void Lose(SimGossip message)
    {
        (int waiting, int peer) = message.IsReply ? (message.To, message.From) : (message.From, message.To);
        var failure = new SimGossip(peer, waiting, ReadOnlySequence<byte>.Empty, IsReply: true, Life: message.Life, Lost: true, Announce: message.Announce);
        Context.At(Context.NowMs + ExchangeTimeoutMs(waiting, peer), new SimEvent(EventKind.GossipDelivery, waiting, failure));
    }

    private void OnSyncQuery(SyncExchange query)
    {
        if (query.Request.Done || query.Epoch != query.Request.Epoch)
        {
            return;
        }

        if (_faults is not null && (!_faults.IsUp(query.Peer) || _faults.Partitioned(query.Peer, query.Request.Ingress)))
        {
            Context.At(Context.NowMs + ExchangeTimeoutMs(query.Request.Ingress, query.Peer) - (Context.Rtt(query.Request.Ingress, query.Peer) / 2), new SimEvent(EventKind.SyncAnswer, query.Request.Ingress, query));
            return;
        }

        byte[] answer = OnSyncQuery(query.Peer, query.Request.Ingress);
        Context.At(Context.NowMs + (Context.Rtt(query.Peer, query.Request.Ingress) / 2), new SimEvent(EventKind.SyncAnswer, query.Request.Ingress, query with { Answer = answer }));
    }

    private void OnSyncAnswer(SyncExchange answer)
    {
        if (answer.Request.Done || answer.Epoch != answer.Request.Epoch)
        {
            return;
        }

        if (answer.Answer is not null)
        {
            OnSyncAnswer(answer.Request.Ingress, answer.Answer);
        }

        RecordCall(answer.Request.Ingress, answer.Peer, succeeded: answer.Answer is not null);

        if (--answer.Request.PendingSync == 0)
        {
            Decide(answer.Request);
        }
    }

    /// <summary>One region's node and what the driver keeps for it.</summary>
    private sealed class NodeSlot(int region, RegionNode node, SimReplica[] local)
    {
        public int Region { get; } = region;

        /// <summary>The region's node (a new one after a restart).</summary>
        public RegionNode Node { get; set; } = node;

        /// <summary>How many times the node restarted: replies to an earlier life's rounds are stale.</summary>
        public int Life { get; set; }

        public SimReplica[] Local { get; } = local;

        /// <summary>The regions it may gossip with and query, in RTT-matrix order.</summary>
        public int[] Peers { get; set; } = [];

        /// <summary>Fleet indices of the replicas it routes among (those of the regions it follows).</summary>
        public int[] Pool { get; set; } = [];

        /// <summary>Other nodes that see this region's replicas directly (<c>shared</c> only).</summary>
        public RegionNode[] Observers { get; set; } = [];

        /// <summary>Replies still due for its current gossip round.</summary>
        public int AwaitedReplies { get; set; }

        /// <summary>Whether a round fell due while the last one was still waiting for replies (it starts when they are in).</summary>
        public bool RoundOverdue { get; set; }
    }
}
