using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Workload;
using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;
using Gorgo.Routing.Policies;

namespace Gorgo.Simulator;

/// <summary>How a simulated run routes.</summary>
internal enum RunKind
{
    /// <summary>A node per region routes on its own view (gossip, sync or local-only).</summary>
    Mesh,

    /// <summary>One router in the proxy's region routes everything.</summary>
    Proxy,

    /// <summary>The clairvoyant lower bound: exact instantaneous state, true minimum TTFT.</summary>
    Oracle,
}

/// <summary>
/// One simulated run of a scenario: builds the fleet (an <see cref="EngineCore"/> per replica, a <see cref="Router"/>
/// per node or one for the proxy), replays the workload on a virtual clock through a single-threaded event loop, and
/// summarises every request into a <see cref="RunAccumulator"/>.
/// </summary>
/// <remarks>
/// Timing mirrors the live deployments: a client in its region reaches the mesh node of that region at once, or the
/// proxy after half the RTT; a node serves its own replicas in process and other regions' through one cross-region
/// hop (half the RTT each way); the proxy pays half the RTT to every replica, its own region's included. Sync decisions
/// wait for every peer's exact state (one RTT to the farthest). Gossip rounds run every interval from a random phase,
/// each to <c>fanout</c> random peers, a push of the sender's digest answered by the peer's digest and every digest the
/// sender lacks; messages take half the RTT. Nodes read their replicas' load every load-report interval and learn their
/// cache events as they happen. RTTs are static, so probes would return them unchanged and are not simulated.
/// </remarks>
internal sealed class SimRun
{
    private const double UnknownPeerRttMs = 0;

    /// <summary>The simulator-only consistency setting in which every node sees every nearby replica's exact load and cache at once, for free.</summary>
    public const string SharedConsistency = "shared";

    private readonly Scenario _scenario;
    private readonly RunSpec _run;
    private readonly RunKind _kind;
    private readonly RttMatrix _rtt;
    private readonly EngineProfile _profile;
    private readonly BlockHasher _hasher;
    private readonly PromptSynthesizer _synthesizer;
    private readonly VirtualClock _clock = new();
    private readonly EventQueue _events = new();
    private readonly List<SimReplica> _replicas = [];
    private readonly Dictionary<string, int> _replicaIndex = new(StringComparer.Ordinal);
    private readonly SimNode?[] _nodes;
    private readonly Router? _proxyRouter;
    private readonly int _proxyRegion = -1;
    private readonly Random _random;
    private readonly RunAccumulator _accumulator;
    private readonly List<RequestRecord>? _records;
    private readonly CostModel _oracleCost = new(new CostModelOptions());
    private readonly PrefixIndex? _fleetCache;
    private int[] _fleetMatched = [];
    private readonly ulong[]?[] _poolSlots;
    private OracleLoad[] _oracleLoad = [];
    private int[] _regionOf = []; // the oracle's copies of each replica's region and id, in fleet order, read by every decision without visiting the replica
    private string[] _idOf = [];
    private CandidateScore[] _oracleScores = [];
    private double[] _oracleTotals = [];
    private readonly List<RequestTiming> _finished = [];
    private readonly List<CacheEvent> _cacheEvents = [];
    private readonly List<ulong> _stored = [];
    private readonly List<ulong> _removed = [];
    private readonly string _consistency;
    private readonly bool _handleDueAtOnce;
    private readonly PrefixMergeMode _summaryMerge;
    private readonly int _hashesPerReplica;
    private readonly bool[][] _near;
    private readonly int[]?[] _nearReplicas;
    private readonly SimNode[][] _observers;
    private IEnumerator<RequestShape>? _workload;
    private double _lastArrivalMs;

    /// <summary>Builds the run's fleet; nothing happens until <see cref="Run"/>. Without <c>handleDueAtOnce</c> every event goes through the heap (see <see cref="Then"/>; the same results, a test checks it).</summary>
    public SimRun(Scenario scenario, RunSpec run, RunKind kind, RttMatrix rtt, EngineProfile profile, bool keepRecords, bool handleDueAtOnce = true)
    {
        _handleDueAtOnce = handleDueAtOnce;
        _scenario = scenario;
        _run = run;
        _kind = kind;
        _rtt = rtt;
        _profile = profile;
        _hasher = new BlockHasher(profile.BlockSize);
        _synthesizer = new PromptSynthesizer(scenario.Seed, scenario.Trace.Sharing);
        _random = new Random(scenario.Seed);
        _consistency = kind == RunKind.Oracle ? "exact" : run.EffectiveConsistency ?? "proxy";
        _summaryMerge = run.EffectiveSummaryMerge(scenario.Mesh.Gossip);
        _accumulator = new RunAccumulator(run.Name, run.Mode, run.Policy, kind == RunKind.Oracle ? "exact" : run.EffectiveConsistency);
        _records = keepRecords ? [] : null;
        int regions = scenario.Regions.Count;
        _nodes = new SimNode?[regions];
        for (int region = 0; region < regions; region++)
        {
            string name = scenario.Regions[region];
            foreach (string id in scenario.ReplicaIds(name))
            {
                int index = _replicas.Count;
                var engine = new EngineCore(profile, 0, scenario.Seed + index);
                engine.Cache.RecordEvents = kind is RunKind.Mesh or RunKind.Oracle;
                var replica = new SimReplica(index, id, _rtt.IndexOf(name), engine);
                _replicas.Add(replica);
                _replicaIndex.Add(replica.Id, index);
            }
        }

        if (kind == RunKind.Oracle)
        {
            // The oracle's exact view of every replica's cache, kept from the engines' own cache events: one walk of a
            // prompt gives every replica's matched prefix (instead of one probe of each engine's cache per block).
            _fleetCache = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = profile.KvCapacityBlocks, MaxReplicas = Math.Max(1, _replicas.Count) });
            foreach (SimReplica replica in _replicas)
            {
                if (_fleetCache.Register(replica.Id) != replica.Index)
                {
                    throw new InvalidOperationException("The fleet cache's slots must follow the fleet's order.");
                }
            }

            _fleetMatched = new int[_fleetCache.SlotCapacity];
            _oracleLoad = new OracleLoad[_replicas.Count];
            _regionOf = _replicas.Select(r => r.Region).ToArray();
            _idOf = _replicas.Select(r => r.Id).ToArray();
        }

        // Region indices below are the RTT matrix's; the scenario's order is only used for names.
        _near = Enumerable.Range(0, regions).Select(r => rtt.NearestMask(r, scenario.Mesh.NearestRegions)).ToArray();
        _nearReplicas = new int[regions][];
        _poolSlots = new ulong[regions][];
        var routerBase = new RouterOptions
        {
            Region = scenario.Regions[0],
            BlockSize = profile.BlockSize,
            Policy = new PolicyOptions { Name = kind == RunKind.Oracle ? PolicyCatalog.Gorgo : run.Policy, Seed = scenario.Seed },
            NearestRegions = scenario.Mesh.NearestRegions,
            Index = IndexOptions(scenario, profile),
        };
        if (kind == RunKind.Mesh)
        {
            bool shares = _consistency != "local-only";
            _hashesPerReplica = shares ? DigestBudget.HashesPerReplica(scenario.Mesh.Gossip.DigestBudgetBytes, MaxReplicasPerRegion()) : 0;
            foreach (string name in scenario.Regions)
            {
                int region = _rtt.IndexOf(name);
                int[] local = _replicas.Where(r => r.Region == region).Select(r => r.Index).ToArray();
                var router = new Router(routerBase with { Region = name }, rtt, _clock);
                _nodes[region] = new SimNode(region, name, router, local, regions);
            }
        }
        else if (kind == RunKind.Proxy)
        {
            string proxyRegion = run.ProxyRegion ?? scenario.Proxy.Region ?? scenario.Regions[0];
            _proxyRegion = _rtt.IndexOf(proxyRegion);
            _proxyRouter = new Router(routerBase with { Region = proxyRegion, TrackPendingWork = false }, rtt, _clock);
        }

        // Whose routers learn a region's loads and cache events directly: its own node, or under the simulator-only
        // "shared" setting every node interested in it (exact shared state, the bound a digest budget is measured against).
        _observers = Enumerable.Range(0, regions).Select(region => _nodes.OfType<SimNode>()
            .Where(n => n.Region == region || (_consistency == SharedConsistency && _near[n.Region][region]))
            .ToArray()).ToArray();
    }

    /// <summary>
    /// The routers' prefix index options: the live default bound per replica, in tokens, so a coarser simulated block size
    /// (<c>sim.blockSize</c>) bounds a node's belief about a replica at as many tokens as a live node's; remote replicas
    /// in their own sets (same answers, far fewer cache misses per merge or cache event across a hundred routers).
    /// </summary>
    private static PrefixIndexOptions IndexOptions(Scenario scenario, EngineProfile profile)
    {
        var live = new PrefixIndexOptions { OwnSets = PrefixOwnSets.Remote }; // a hundred routers' updates in one process: see the option
        int liveBlockSize = scenario.LoadProfile().BlockSize;
        return profile.BlockSize == liveBlockSize
            ? live
            : live with { MaxBlocksPerReplica = (int)Math.Max(1, (long)live.MaxBlocksPerReplica * liveBlockSize / profile.BlockSize) };
    }

    /// <summary>Events processed.</summary>
    public long Events { get; private set; }

    /// <summary>Virtual time the run lasted, ms.</summary>
    public double VirtualMs => _clock.NowMs;

    /// <summary>Every request's record, when kept.</summary>
    public IReadOnlyList<RequestRecord>? Records => _records;

    /// <summary>Replays the workload to the end and returns the run's summary.</summary>
    public RunSummary Run(IEnumerable<RequestShape> workload, Action<int>? progress, CancellationToken cancellationToken)
    {
        Start();
        _workload = workload.GetEnumerator();
        ScheduleNextArrival();
        while (_events.TryNext(out SimEvent e, out double at))
        {
            _clock.AdvanceTo(at);
            Events++;
            Handle(e);
            if ((Events & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Invoke(_accumulator.Requests);
            }

            if (_workload is null && InFlight == 0)
            {
                break; // only periodic events remain
            }
        }

        progress?.Invoke(_accumulator.Requests);
        return Summary();
    }

    /// <summary>Requests sent and not yet accounted for.</summary>
    private long InFlight { get; set; }

    private int MaxReplicasPerRegion() => _scenario.Regions.Max(r => _scenario.Replicas.CountIn(r));

    private RunSummary Summary()
    {
        RunSummary summary = _accumulator.ToSummary();
        if (_kind != RunKind.Mesh)
        {
            return summary;
        }

        double seconds = Math.Max(_clock.NowMs, 1) / 1000;
        double perNode = _nodes.Where(n => n is not null).Average(n => n!.BytesSent) / seconds;
        return summary with { GossipBytesPerNodePerS = Math.Round(perNode, 1) };
    }

    private void Start()
    {
        foreach (SimNode? node in _nodes)
        {
            if (node is null)
            {
                continue;
            }

            ReportLoad(node);
            _events.At(_random.NextDouble() * _scenario.Mesh.LoadReportIntervalMs, new SimEvent(EventKind.LoadReport, node.Region));
            if (_nodes.Count(n => n is not null) > 1 && _consistency != SharedConsistency)
            {
                int interval = _scenario.Mesh.Gossip.IntervalMs;
                _events.At(_random.NextDouble() * interval, new SimEvent(EventKind.GossipRound, node.Region));
            }
        }

        // Gossip converges before the workload starts, as the live harness waits for convergence.
        if (_kind == RunKind.Mesh)
        {
            foreach (SimNode a in _nodes.OfType<SimNode>())
            {
                foreach (SimNode b in _nodes.OfType<SimNode>().Where(b => b != a && _near[b.Region][a.Region]))
                {
                    Merge(b, MakeDigest(a));
                }
            }
        }

        if (_proxyRouter is not null)
        {
            foreach (SimReplica r in _replicas)
            {
                PublishProxyView(r);
            }

            _events.At(_random.NextDouble() * _scenario.Proxy.HealthIntervalMs, new SimEvent(EventKind.LoadReport, ProxyTarget));
        }
    }

    /// <summary>The target of the proxy's periodic events (health probes republish every replica's view).</summary>
    private const int ProxyTarget = -1;

    private void Handle(in SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Arrival:
                OnArrival((RequestShape)e.Payload!);
                break;
            case EventKind.Decide:
                Decide((SimRequest)e.Payload!);
                break;
            case EventKind.SyncQuery:
                OnSyncQuery((SyncExchange)e.Payload!);
                break;
            case EventKind.SyncAnswer:
                OnSyncAnswer((SyncExchange)e.Payload!);
                break;
            case EventKind.ReplicaArrival:
                OnReplicaArrival(_replicas[e.Target], (SimRequest)e.Payload!);
                break;
            case EventKind.StepEnd when e.Stamp == _replicas[e.Target].StepStamp:
                OnStepEnd(_replicas[e.Target]);
                break;
            case EventKind.StepEnd:
                break; // the end of a run that was cut short
            case EventKind.LoadReport when e.Target == ProxyTarget:
                _replicas.ForEach(PublishProxyView);
                if (_workload is not null || InFlight > 0)
                {
                    _events.At(_clock.NowMs + _scenario.Proxy.HealthIntervalMs, e);
                }

                break;
            case EventKind.LoadReport:
                ReportLoad(_nodes[e.Target]!);
                if (_workload is not null || InFlight > 0)
                {
                    _events.At(_clock.NowMs + _scenario.Mesh.LoadReportIntervalMs, e);
                }

                break;
            case EventKind.GossipRound:
                GossipRound(_nodes[e.Target]!);
                if (_workload is not null || InFlight > 0)
                {
                    _events.At(_clock.NowMs + _scenario.Mesh.Gossip.IntervalMs, e);
                }

                break;
            case EventKind.GossipDelivery:
                OnGossip((GossipMessage)e.Payload!);
                break;
            case EventKind.ProxyRelease:
                OnProxyRelease((SimRequest)e.Payload!);
                break;
            default:
                throw new InvalidOperationException($"Unknown event {e.Kind}.");
        }
    }

    // ---- arrivals and decisions -------------------------------------------------------------------------------

    private void ScheduleNextArrival()
    {
        if (_workload is null)
        {
            return;
        }

        if (!_workload.MoveNext())
        {
            _workload.Dispose();
            _workload = null;
            return;
        }

        RequestShape shape = _workload.Current;
        if (shape.ArrivalMs < _lastArrivalMs)
        {
            throw new InvalidOperationException($"The workload is not in arrival order at request {shape.Index}.");
        }

        _lastArrivalMs = shape.ArrivalMs;
        int user = _rtt.IndexOf(shape.UserRegion);
        if (user < 0)
        {
            throw new InvalidOperationException($"Request {shape.Index} comes from unknown region '{shape.UserRegion}'.");
        }

        _events.At(shape.ArrivalMs, new SimEvent(EventKind.Arrival, user, shape));
        InFlight++;
    }

    private void OnArrival(RequestShape shape)
    {
        ScheduleNextArrival();
        int user = _rtt.IndexOf(shape.UserRegion);
        var request = new SimRequest(shape, _synthesizer.Blocks(shape, _hasher), user, _kind == RunKind.Proxy ? _proxyRegion : user);
        double clientLeg = OneWay(request.User, request.Ingress, sameRegionFree: true);
        if (_kind == RunKind.Mesh && _consistency == "sync")
        {
            SimNode node = _nodes[request.Ingress]!;
            foreach (SimNode peer in _nodes.OfType<SimNode>().Where(p => p != node && _near[node.Region][p.Region]))
            {
                request.PendingSync++;
                _events.At(_clock.NowMs + clientLeg + (Rtt(node.Region, peer.Region) / 2), new SimEvent(EventKind.SyncQuery, peer.Region, new SyncExchange(request, peer.Region)));
                node.BytesSent += SyncQueryBytes;
            }

            if (request.PendingSync > 0)
            {
                return;
            }
        }

        Then(_clock.NowMs + clientLeg, new SimEvent(EventKind.Decide, request.Ingress, request));
    }

    /// <summary>Bytes of a sync query (a grain call with no arguments).</summary>
    private const long SyncQueryBytes = 64;

    private void OnSyncQuery(SyncExchange query)
    {
        SimNode peer = _nodes[query.Peer]!;
        SimDigest answer = MakeDigest(peer);
        peer.BytesSent += answer.Bytes;
        _events.At(_clock.NowMs + (Rtt(query.Peer, query.Request.Ingress) / 2), new SimEvent(EventKind.SyncAnswer, query.Request.Ingress, query with { Answer = answer }));
    }

    private void OnSyncAnswer(SyncExchange answer)
    {
        Merge(_nodes[answer.Request.Ingress]!, answer.Answer!);
        if (--answer.Request.PendingSync == 0)
        {
            Decide(answer.Request);
        }
    }

    private void Decide(SimRequest request)
    {
        if (_kind == RunKind.Oracle)
        {
            DecideAsOracle(request);
            return;
        }

        Router router = _kind == RunKind.Proxy ? _proxyRouter! : _nodes[request.Ingress]!.Router;
        RoutingScope scope = _kind == RunKind.Mesh && _consistency == "local-only" ? RoutingScope.HomeUnlessSaturated : RoutingScope.All;
        RoutedChoice decision;
        try
        {
            decision = router.RouteChoice(new RoutingRequest(request.Prompt, _scenario.Replicas.Model, RegionName(request.User), request.Shape.OutputTokens, request.Shape.Index, scope));
        }
        catch (RoutingException ex)
        {
            Fail(request, StatusOf(ex.Failure), ex.Message);
            return;
        }

        CandidateScore chosen = decision.Chosen;
        request.Replica = _replicaIndex[chosen.ReplicaId];
        request.StateAgeMs = chosen.StateAgeMs;
        request.EstimatedTtftMs = chosen.Estimate.TotalMs;
        request.MatchedTokens = chosen.MatchedTokens;
        request.Pathological = decision.Pathological;
        SimReplica replica = _replicas[request.Replica];
        if (_kind == RunKind.Proxy)
        {
            replica.ProxyQueue.Enqueue(request);
            replica.ProxyWaitingTokens += request.Prompt.TokenCount;
            StartProxied(replica);
            PublishProxyView(replica);
            return;
        }

        Forward(request, replica, OneWay(request.Ingress, replica.Region, sameRegionFree: true), last: true);
    }

    /// <summary>The oracle: exact state of every replica; forecasts the true TTFT of the best candidates and takes the least.</summary>
    private void DecideAsOracle(SimRequest request)
    {
        double now = _clock.NowMs;
        ReadOnlySpan<ulong> hashes = request.Prompt.Hashes.Span;
        int promptTokens = request.Prompt.TokenCount;
        int[] pool = NearReplicas(request.Ingress);
        _fleetCache!.Match(hashes, _fleetMatched, PoolSlots(request.Ingress, pool)); // the pool's matches only (slots are fleet indices)
        if (_oracleScores.Length < pool.Length)
        {
            _oracleScores = new CandidateScore[pool.Length];
            _oracleTotals = new double[pool.Length];
        }

        Span<CandidateScore> candidates = _oracleScores.AsSpan(0, pool.Length);
        Span<double> totals = _oracleTotals.AsSpan(0, pool.Length);
        for (int c = 0; c < pool.Length; c++)
        {
            int r = pool[c];
            ref readonly OracleLoad load = ref _oracleLoad[r];
            int region = _regionOf[r];
            int matched = Math.Min(_fleetMatched[r] * _profile.BlockSize, promptTokens);
            double rtt = region == request.Ingress ? 0 : Rtt(request.Ingress, region);
            TtftEstimate estimate = _oracleCost.Estimate(new CostInputs(rtt, 0, load.WaitingTokens, load.RunningTokens, promptTokens - matched, _profile.PrefillMsPerToken, false, load.RunningPrefillTokens));
            int outstanding = load.RunningRequests + load.WaitingRequests;
            candidates[c] = new CandidateScore(_idOf[r], RegionName(region), region == request.Ingress, ReplicaHealth.Healthy, matched, promptTokens - matched, outstanding, load.WaitingRequests, load.RunningTokens + load.WaitingTokens, 0, 0, estimate, outstanding >= _profile.MaxRunningRequests);
            totals[c] = estimate.TotalMs;
        }

        // The cheapest estimates first, ties in fleet order (a selection of the few it forecasts; no full sort).
        int forecasts = Math.Min(pool.Length, _scenario.Sim.OracleCandidates);
        Span<int> order = forecasts <= 64 ? stackalloc int[forecasts] : new int[forecasts];
        int taken = 0;
        for (int c = 0; c < pool.Length; c++)
        {
            int at = taken;
            while (at > 0 && totals[c] < totals[order[at - 1]])
            {
                at--;
            }

            if (at >= order.Length)
            {
                continue;
            }

            taken = Math.Min(taken + 1, order.Length);
            for (int m = taken - 1; m > at; m--)
            {
                order[m] = order[m - 1];
            }

            order[at] = c;
        }

        int best = order[0];
        double bestTtft = double.PositiveInfinity;
        var probe = new EngineRequest(request.Shape.Index, request.Prompt, request.Shape.OutputTokens);
        foreach (int i in order)
        {
            SimReplica r = _replicas[pool[i]];
            double oneWay = OneWay(request.Ingress, r.Region, sameRegionFree: true);
            if (2 * oneWay + _profile.PrefillStepMs(candidates[i].UncachedTokens, candidates[i].MatchedTokens) >= bestTtft)
            {
                continue; // cannot beat the best so far: the prefill alone takes longer
            }

            CutRun(r); // the forecast starts from the step under way

            double first = r.Engine.ForecastFirstTokenMs(probe, now, now + oneWay, r.Stepping ? r.StepEndsAtMs : null, now + Math.Min(bestTtft, 3_600_000), r.InTransit);
            double ttft = first - now + oneWay;
            if (ttft < bestTtft)
            {
                bestTtft = ttft;
                best = i;
            }
        }

        request.Replica = pool[best];
        request.StateAgeMs = 0;
        request.EstimatedTtftMs = double.IsFinite(bestTtft) ? bestTtft : candidates[best].Estimate.TotalMs;
        request.MatchedTokens = candidates[best].MatchedTokens;
        request.Pathological = RoutingDecision.IsPathological(candidates, best, RegionName(request.User));
        SimReplica chosen = _replicas[request.Replica];
        Forward(request, chosen, OneWay(request.Ingress, chosen.Region, sameRegionFree: true), last: true);
    }

    /// <summary>The oracle's pool for a region as a mask over the fleet cache's slots.</summary>
    private ulong[] PoolSlots(int region, int[] pool)
    {
        if (_poolSlots[region] is { } mask)
        {
            return mask;
        }

        mask = new ulong[_fleetCache!.SlotCapacity / 64];
        foreach (int r in pool)
        {
            mask[r >> 6] |= 1UL << (r & 63);
        }

        return _poolSlots[region] = mask;
    }

    /// <summary>Indices, in fleet order, of the replicas in the regions a node in <paramref name="region"/> routes among.</summary>
    private int[] NearReplicas(int region) =>
        _nearReplicas[region] ??= _replicas.Where(r => _near[region][r.Region]).Select(r => r.Index).ToArray();

    /// <summary>Sends a request on to its replica, arriving after <paramref name="delayMs"/>; <paramref name="last"/>: nothing follows in the calling handler (see <see cref="Then"/>).</summary>
    private void Forward(SimRequest request, SimReplica replica, double delayMs, bool last = false)
    {
        request.Engine = new EngineRequest(request.Shape.Index, request.Prompt, request.Shape.OutputTokens);
        if (_kind == RunKind.Oracle)
        {
            replica.InTransit.Add((request.Engine, _clock.NowMs + delayMs));
        }

        var arrival = new SimEvent(EventKind.ReplicaArrival, replica.Index, request);
        if (last)
        {
            Then(_clock.NowMs + delayMs, arrival);
        }
        else
        {
            _events.At(_clock.NowMs + delayMs, arrival);
        }
    }

    /// <summary>
    /// Schedules an event as the last thing a handler does. One due at this instant, with nothing else due by then, is
    /// handled at once: the loop would take it next anyway (the same order, one heap round trip fewer; in-process hops
    /// inside a region have no delay, so most requests' decision and arrival at their replica are such events).
    /// </summary>
    private void Then(double atMs, in SimEvent e)
    {
        if (_handleDueAtOnce && atMs == _clock.NowMs && !_events.AnyDueBy(atMs))
        {
            Events++;
            Handle(e);
            return;
        }

        _events.At(atMs, e);
    }

    // ---- replicas ----------------------------------------------------------------------------------------------

    private void OnReplicaArrival(SimReplica replica, SimRequest request)
    {
        if (_kind == RunKind.Oracle)
        {
            replica.InTransit.RemoveAll(t => t.Request.Id == request.Shape.Index);
        }

        EngineRejection rejection = replica.Engine.Submit(request.Engine!, _clock.NowMs);
        if (rejection != EngineRejection.None)
        {
            Fail(request, 400, $"The replica refused the request: {rejection}.");
            if (_kind == RunKind.Proxy)
            {
                _events.At(_clock.NowMs + OneWay(replica.Region, _proxyRegion, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));
            }

            return;
        }

        replica.Active.Add(request.Shape.Index, request);
        if (!replica.Stepping)
        {
            StartStep(replica);
        }
        else
        {
            CutRun(replica); // the request joins at the next step boundary, as it would step by step
            RefreshOracleLoad(replica);
        }
    }

    /// <summary>
    /// Plans the replica's next step. Decode steps with nothing to admit are planned as one run up to the first
    /// finishing request (one event instead of one per token); an arrival or the oracle's look cuts the run to the
    /// step under way, so every step happens when it would step by step.
    /// </summary>
    private void StartStep(SimReplica replica)
    {
        replica.Stepping = replica.Engine.PlanStep(_clock.NowMs, int.MaxValue) is not null;
        if (_fleetCache is not null)
        {
            SyncFleetCache(replica); // admissions may have evicted blocks
            RefreshOracleLoad(replica);
        }

        if (replica.Stepping)
        {
            ScheduleStepEnd(replica, replica.Engine.PlannedEndMs);
        }
    }

    private void ScheduleStepEnd(SimReplica replica, double atMs)
    {
        replica.StepEndsAtMs = atMs;
        replica.StepStamp++;
        _events.At(atMs, new SimEvent(EventKind.StepEnd, replica.Index, Stamp: replica.StepStamp));
    }

    /// <summary>Shortens the replica's decode run, if one is under way, to the step under way now.</summary>
    private void CutRun(SimReplica replica)
    {
        if (replica.Stepping && replica.Engine.PlannedSteps > 1)
        {
            ScheduleStepEnd(replica, replica.Engine.CutRun(_clock.NowMs, null)); // a run's steps only decode: no first tokens in them
        }
    }

    private void OnStepEnd(SimReplica replica)
    {
        _finished.Clear();
        replica.Engine.CompleteStep(_clock.NowMs, null, _finished); // first-token times come with the finished requests' timings

        foreach (RequestTiming timing in _finished)
        {
            SimRequest request = replica.Active[timing.RequestId];
            replica.Active.Remove(timing.RequestId);
            Complete(request, replica, timing);
        }

        if (_kind == RunKind.Mesh)
        {
            PublishCacheEvents(replica);
        }
        else if (_fleetCache is not null)
        {
            SyncFleetCache(replica);
        }

        StartStep(replica);
    }

    /// <summary>
    /// Copies the load figures the oracle reads of a replica's engine into one array in fleet order, after every change
    /// to them (a submission, a planned step; a completed step is always followed by a plan), so a decision reads its
    /// candidates' loads in one sweep instead of asking each engine.
    /// </summary>
    private void RefreshOracleLoad(SimReplica replica)
    {
        if (_kind == RunKind.Oracle)
        {
            EngineState s = replica.Engine.State;
            _oracleLoad[replica.Index] = new OracleLoad(s.WaitingTokens, s.RunningTokens, s.RunningPrefillTokens, s.RunningRequests, s.WaitingRequests);
        }
    }

    /// <summary>A replica's engine load as the oracle scores it.</summary>
    private readonly record struct OracleLoad(long WaitingTokens, long RunningTokens, long RunningPrefillTokens, int RunningRequests, int WaitingRequests);

    /// <summary>Applies a replica's cache events, in order, to the oracle's fleet view (exact at every decision).</summary>
    private void SyncFleetCache(SimReplica replica)
    {
        _cacheEvents.Clear();
        replica.Engine.DrainCacheEvents(_cacheEvents);
        for (int start = 0; start < _cacheEvents.Count;)
        {
            // One call per run of events of one kind; a run of stores goes in reversed, as Record touches its span last
            // to first, so the blocks are touched in the order the engine stored them.
            CacheEventKind kind = _cacheEvents[start].Kind;
            int end = start;
            _stored.Clear();
            while (end < _cacheEvents.Count && _cacheEvents[end].Kind == kind)
            {
                _stored.Add(_cacheEvents[end++].BlockHash);
            }

            Span<ulong> blocks = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_stored);
            if (kind == CacheEventKind.Stored)
            {
                blocks.Reverse();
                _fleetCache!.Record(replica.Index, blocks);
            }
            else
            {
                _fleetCache!.Remove(replica.Index, blocks);
            }

            start = end;
        }
    }

    private void PublishCacheEvents(SimReplica replica)
    {
        _cacheEvents.Clear();
        replica.Engine.DrainCacheEvents(_cacheEvents);
        if (_cacheEvents.Count == 0)
        {
            return;
        }

        _stored.Clear();
        _removed.Clear();
        foreach (CacheEvent e in _cacheEvents)
        {
            (e.Kind == CacheEventKind.Stored ? _stored : _removed).Add(e.BlockHash);
        }

        foreach (SimNode observer in _observers[replica.Region])
        {
            if (_removed.Count > 0)
            {
                observer.Router.RemoveCached(replica.Id, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_removed));
            }

            if (_stored.Count > 0)
            {
                observer.Router.RecordCached(replica.Id, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_stored));
            }
        }
    }

    private void Complete(SimRequest request, SimReplica replica, RequestTiming timing)
    {
        double back = _kind == RunKind.Proxy
            ? OneWay(replica.Region, _proxyRegion, sameRegionFree: false) + OneWay(_proxyRegion, request.User, sameRegionFree: true)
            : OneWay(replica.Region, request.Ingress, sameRegionFree: true) + OneWay(request.Ingress, request.User, sameRegionFree: true);
        double sent = request.Shape.ArrivalMs;
        double ttft = timing.FirstTokenMs + back - sent;
        double e2e = timing.FinishedMs + back - sent;
        string user = RegionName(request.User);
        string served = RegionName(replica.Region);
        _accumulator.AddCompleted(user, served, ttft, e2e, timing.PromptTokens, timing.CachedTokens, request.StateAgeMs, request.Pathological);
        _records?.Add(new RequestRecord
        {
            Run = _run.Name,
            Index = request.Shape.Index,
            UserRegion = user,
            ArrivalMs = sent,
            Status = 200,
            Completed = true,
            TtftMs = ttft,
            E2eMs = e2e,
            PromptTokens = timing.PromptTokens,
            CachedTokens = timing.CachedTokens,
            OutputTokens = timing.GeneratedTokens,
            ServedRegion = served,
            Replica = replica.Id,
            EstimatedTtftMs = request.EstimatedTtftMs,
            MatchedTokens = request.MatchedTokens,
            StateAgeMs = request.StateAgeMs,
            Pathological = request.Pathological,
        });
        InFlight--;
        if (_kind == RunKind.Proxy)
        {
            _events.At(timing.FinishedMs + OneWay(replica.Region, _proxyRegion, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));
        }
    }

    private void Fail(SimRequest request, int status, string error)
    {
        _accumulator.AddFailed(status);
        _records?.Add(new RequestRecord
        {
            Run = _run.Name,
            Index = request.Shape.Index,
            UserRegion = RegionName(request.User),
            ArrivalMs = request.Shape.ArrivalMs,
            Status = status,
            PromptTokens = request.Prompt.TokenCount,
            Error = error,
        });
        InFlight--;
    }

    private static int StatusOf(RoutingFailure failure) => failure switch
    {
        RoutingFailure.ModelNotFound => 404,
        RoutingFailure.PromptTooLong => 400,
        RoutingFailure.Saturated => 429,
        _ => 503,
    };

    // ---- proxy -------------------------------------------------------------------------------------------------

    private void StartProxied(SimReplica replica)
    {
        while (replica.ProxyRunning < _scenario.Proxy.MaxRunningPerReplica && replica.ProxyQueue.TryDequeue(out SimRequest? request))
        {
            replica.ProxyWaitingTokens -= request.Prompt.TokenCount;
            replica.ProxyRunning++;
            replica.ProxyRunningTokens += request.Prompt.TokenCount;
            Forward(request, replica, OneWay(_proxyRegion, replica.Region, sameRegionFree: false));
        }
    }

    private void OnProxyRelease(SimRequest request)
    {
        SimReplica replica = _replicas[request.Replica];
        replica.ProxyRunning--;
        replica.ProxyRunningTokens -= request.Prompt.TokenCount;
        StartProxied(replica);
        PublishProxyView(replica);
    }

    private void PublishProxyView(SimReplica replica) => _proxyRouter!.Upsert(View(replica, replica.ProxyRunning, replica.ProxyQueue.Count, replica.ProxyRunningTokens, replica.ProxyWaitingTokens, _scenario.Proxy.MaxRunningPerReplica));

    // ---- mesh state: load reports and gossip -------------------------------------------------------------------

    private void ReportLoad(SimNode node)
    {
        foreach (int i in node.Local)
        {
            SimReplica replica = _replicas[i];
            EngineState s = replica.Engine.State;
            replica.LastView = View(replica, s.RunningRequests, s.WaitingRequests, s.RunningTokens, s.WaitingTokens, _profile.MaxRunningRequests, s.KvUtilization) with { RunningPrefillTokens = s.RunningPrefillTokens };
            foreach (SimNode observer in _observers[node.Region])
            {
                observer.Router.Upsert(replica.LastView);
            }
        }
    }

    private ReplicaView View(SimReplica replica, int running, int waiting, long runningTokens, long waitingTokens, int maxRunning, double kv = 0) => new()
    {
        Id = replica.Id,
        Region = RegionName(replica.Region),
        Model = _scenario.Replicas.Model,
        Health = ReplicaHealth.Healthy,
        RunningRequests = running,
        QueuedRequests = waiting,
        RunningTokens = runningTokens,
        QueuedTokens = waitingTokens,
        KvCacheUtilization = kv,
        PrefillMsPerToken = _profile.PrefillMsPerToken,
        MaxRunningRequests = maxRunning,
        MaxContextTokens = _profile.MaxContextTokens,
        TakenAtMs = VirtualClock.UnixMs(_clock.NowMs),
    };

    private SimDigest MakeDigest(SimNode node)
    {
        bool shares = _consistency != "local-only";
        var views = new List<ReplicaView>(node.Local.Length);
        var hot = shares ? new List<ulong[]>(node.Local.Length) : null;
        long hashes = 0;
        foreach (int i in node.Local)
        {
            SimReplica replica = _replicas[i];
            if (replica.LastView is not { } view)
            {
                continue;
            }

            views.Add(shares ? view : view with { RunningRequests = 0, QueuedRequests = 0, RunningTokens = 0, RunningPrefillTokens = null, QueuedTokens = 0, KvCacheUtilization = 0 });
            if (hot is not null)
            {
                ulong[] blocks = node.Router.Summarize(replica.Id, _hashesPerReplica).Hashes;
                hot.Add(blocks);
                hashes += blocks.Length;
            }
        }

        node.Version++;
        return new SimDigest(node.Region, node.Version, _clock.NowMs, [.. views], hot?.ToArray(), DigestBudget.Bytes(views.Count, hashes));
    }

    private void Merge(SimNode node, SimDigest digest)
    {
        if (digest.Origin == node.Region || !_near[node.Region][digest.Origin] || (node.Remote[digest.Origin] is { } held && held.Version >= digest.Version))
        {
            return;
        }

        node.Remote[digest.Origin] = digest;
        for (int i = 0; i < digest.Views.Length; i++)
        {
            ReplicaView view = digest.Views[i];
            node.Router.Upsert(view);
            if (digest.Hot is { } hot)
            {
                node.Router.ApplySummary(new PrefixSummary(view.Id, hot[i]), _summaryMerge);
            }
        }
    }

    private void GossipRound(SimNode node)
    {
        // As the live node: a round waits for its exchanges' replies, and a tick that falls due meanwhile starts the
        // next round as soon as they are in (ticks missed in between coalesce), so far peers stretch the interval.
        if (node.AwaitedReplies > 0)
        {
            node.RoundOverdue = true;
            return;
        }

        SimDigest own = MakeDigest(node);
        SimNode[] peers = _nodes.OfType<SimNode>().Where(p => p != node && _near[node.Region][p.Region]).ToArray();
        int fanout = Math.Min(_scenario.Mesh.Gossip.Fanout, peers.Length);
        for (int k = 0; k < fanout; k++)
        {
            // Partial Fisher–Yates: the first fanout peers become a uniform random choice.
            int j = k + _random.Next(peers.Length - k);
            (peers[k], peers[j]) = (peers[j], peers[k]);
            Send(new GossipMessage(node.Region, peers[k].Region, [own], node.Known(), IsReply: false, Bytes: own.Bytes + KnownBytes(node.Region)));
        }

        node.AwaitedReplies = fanout;
    }

    private void OnGossip(GossipMessage message)
    {
        SimNode node = _nodes[message.To]!;
        foreach (SimDigest digest in message.Digests)
        {
            Merge(node, digest);
        }

        if (message.IsReply)
        {
            if (--node.AwaitedReplies == 0 && node.RoundOverdue)
            {
                node.RoundOverdue = false;
                GossipRound(node);
            }

            return;
        }

        var reply = new List<SimDigest> { MakeDigest(node) };
        foreach (SimDigest? stored in node.Remote)
        {
            if (stored is not null && stored.Origin != message.From && _near[message.From][stored.Origin] && stored.Version > message.Known![stored.Origin])
            {
                reply.Add(stored);
            }
        }

        Send(new GossipMessage(node.Region, message.From, [.. reply], null, IsReply: true, Bytes: reply.Sum(d => d.Bytes) + KnownBytes(node.Region)));
    }

    private void Send(GossipMessage message)
    {
        _nodes[message.From]!.BytesSent += message.Bytes;
        _events.At(_clock.NowMs + (Rtt(message.From, message.To) / 2), new SimEvent(EventKind.GossipDelivery, message.To, message));
    }

    /// <summary>Bytes of the version map a gossip message carries (origin name and two longs per region the sender follows).</summary>
    private long KnownBytes(int sender) => _near[sender].Count(n => n) * 24L;

    // ---- helpers -----------------------------------------------------------------------------------------------

    private string RegionName(int region) => _rtt.Regions[region];

    private double Rtt(int from, int to) => from < 0 || to < 0 ? UnknownPeerRttMs : _rtt[from, to];

    /// <summary>Half the RTT between two regions; zero inside one region when that hop is in process.</summary>
    private double OneWay(int from, int to, bool sameRegionFree) => from == to && sameRegionFree ? 0 : Rtt(from, to) / 2;
}
