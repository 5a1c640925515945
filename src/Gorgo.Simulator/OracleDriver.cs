using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;

namespace Gorgo.Simulator;

/// <summary>
/// The clairvoyant greedy oracle: each request, at its user's region, sees every nearby replica's exact state (its
/// engine, its cache, the requests on their way to it), forecasts its true TTFT on the cost model's best candidates
/// with the engine model itself, and takes the least. Greedy: it does not foresee later arrivals, so it is a strong
/// reference, not a lower bound.
/// </summary>
internal sealed class OracleDriver : RunDriver
{
    private readonly CostModel _cost = new(new CostModelOptions());
    private readonly PrefixIndex _fleetCache;
    private readonly int[] _fleetMatched;
    private readonly ulong[]?[] _poolSlots;
    private readonly int[]?[] _pools;
    private readonly bool[][] _near;
    private readonly OracleLoad[] _load;
    private readonly int[] _regionOf; // each replica's region and id in fleet order, read by every decision without visiting the replica
    private readonly string[] _idOf;
    private readonly List<CacheEvent> _cacheEvents = [];
    private readonly List<ulong> _blocks = [];
    private CandidateScore[] _scores = [];
    private double[] _totals = [];

    /// <summary>Builds the oracle's exact view of the fleet.</summary>
    public OracleDriver(SimContext context, SimFleet fleet, RunResults results)
        : base(context, fleet, results)
    {
        // The oracle's exact view of every replica's cache, kept from the engines' own cache events: one walk of a
        // prompt gives every replica's matched prefix (instead of one probe of each engine's cache per block).
        int replicas = fleet.Replicas.Count;
        _fleetCache = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = context.TrueProfile.KvCapacityBlocks, MaxReplicas = Math.Max(1, replicas) });
        foreach (SimReplica replica in fleet.Replicas)
        {
            if (_fleetCache.Register(replica.Id) != replica.Index)
            {
                throw new InvalidOperationException("The fleet cache's slots must follow the fleet's order.");
            }
        }

        _fleetMatched = new int[_fleetCache.SlotCapacity];
        _load = new OracleLoad[replicas];
        _regionOf = fleet.Replicas.Select(r => r.Region).ToArray();
        _idOf = fleet.Replicas.Select(r => r.Id).ToArray();
        int regions = context.RttMatrix.Regions.Count;
        _near = Enumerable.Range(0, regions).Select(r => context.RttMatrix.NearestMask(r, context.Scenario.Mesh.NearestRegions)).ToArray();
        _pools = new int[regions][];
        _poolSlots = new ulong[regions][];
    }

    /// <inheritdoc />
    public override void Start()
    {
    }

    /// <inheritdoc />
    public override int IngressOf(int user) => user;

    /// <inheritdoc />
    public override void OnArrival(SimRequest request) =>
        Context.Then(Context.NowMs + Context.OneWay(request.User, request.Ingress, sameRegionFree: true), new SimEvent(EventKind.Decide, request.Ingress, request));

    /// <inheritdoc />
    public override void Handle(in SimEvent e)
    {
        if (e.Kind != EventKind.Decide)
        {
            throw new InvalidOperationException($"The oracle has no event {e.Kind}.");
        }

        Decide((SimRequest)e.Payload!);
    }

    /// <inheritdoc />
    public override double ReturnLegMs(SimRequest request, SimReplica replica) =>
        Context.OneWay(replica.Region, request.Ingress, sameRegionFree: true) + Context.OneWay(request.Ingress, request.User, sameRegionFree: true);

    /// <inheritdoc />
    public override double ForwardLegMs(SimRequest request, SimReplica replica) => Context.OneWay(request.Ingress, replica.Region, sameRegionFree: true);

    /// <inheritdoc />
    public override int[] Pool(SimRequest request) => Pool(request.Ingress);

    /// <inheritdoc />
    public override void OnAdmitted(SimReplica replica) => RefreshLoad(replica);

    /// <inheritdoc />
    public override void OnPlanned(SimReplica replica)
    {
        SyncFleetCache(replica); // admissions may have evicted blocks
        RefreshLoad(replica);
    }

    /// <inheritdoc />
    public override void OnStepped(SimReplica replica) => SyncFleetCache(replica);

    /// <summary>Exact state of every replica; forecasts the true TTFT of the best candidates and takes the least.</summary>
    private void Decide(SimRequest request)
    {
        ForecastOutcomes(request);
        double now = Context.NowMs;
        EngineProfile truth = Context.TrueProfile; // clairvoyant: the engines' real timing, not what routers are told
        int blockSize = truth.BlockSize;
        ReadOnlySpan<ulong> hashes = request.Prompt.Hashes.Span;
        int promptTokens = request.Prompt.TokenCount;
        int[] pool = Pool(request.Ingress);
        _fleetCache.Match(hashes, _fleetMatched, PoolSlots(request.Ingress, pool)); // the pool's matches only (slots are fleet indices)
        if (_scores.Length < pool.Length)
        {
            _scores = new CandidateScore[pool.Length];
            _totals = new double[pool.Length];
        }

        Span<CandidateScore> candidates = _scores.AsSpan(0, pool.Length);
        Span<double> totals = _totals.AsSpan(0, pool.Length);
        for (int c = 0; c < pool.Length; c++)
        {
            int r = pool[c];
            ref readonly OracleLoad load = ref _load[r];
            int region = _regionOf[r];
            int matched = Math.Min(_fleetMatched[r] * blockSize, promptTokens);
            double rtt = region == request.Ingress ? 0 : Context.Rtt(request.Ingress, region);
            TtftEstimate estimate = _cost.Estimate(new CostInputs(rtt, 0, load.WaitingTokens, load.RunningTokens, promptTokens - matched, truth.PrefillMsPerToken, false, load.RunningPrefillTokens));
            int outstanding = load.RunningRequests + load.WaitingRequests;
            candidates[c] = new CandidateScore(_idOf[r], Context.RegionName(region), region == request.Ingress, ReplicaHealth.Healthy, matched, promptTokens - matched, outstanding, load.WaitingRequests, load.RunningTokens + load.WaitingTokens, 0, 0, estimate, outstanding >= truth.MaxRunningRequests);
            totals[c] = estimate.TotalMs;
        }

        // The cheapest estimates first, ties in fleet order (a selection of the few it forecasts; no full sort).
        int forecasts = Math.Min(pool.Length, Context.Scenario.Sim.OracleCandidates);
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
            SimReplica r = Fleet.Replicas[pool[i]];
            double oneWay = Context.OneWay(request.Ingress, r.Region, sameRegionFree: true);
            if (2 * oneWay + truth.PrefillStepMs(candidates[i].UncachedTokens, candidates[i].MatchedTokens) >= bestTtft)
            {
                continue; // cannot beat the best so far: the prefill alone takes longer
            }

            Fleet.CutRun(r); // the forecast starts from the step under way
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
        request.HomeIdleOverride = RoutingDecision.IsHomeIdleOverride(candidates, best, Context.RegionName(request.User));
        SimReplica chosen = Fleet.Replicas[request.Replica];
        Fleet.Forward(request, chosen, Context.OneWay(request.Ingress, chosen.Region, sameRegionFree: true), last: true);
    }

    /// <summary>Indices, in fleet order, of the replicas in the regions a request arriving in <paramref name="region"/> may go to.</summary>
    private int[] Pool(int region) =>
        _pools[region] ??= Fleet.Replicas.Where(r => _near[region][r.Region]).Select(r => r.Index).ToArray();

    /// <summary>A region's pool as a mask over the fleet cache's slots.</summary>
    private ulong[] PoolSlots(int region, int[] pool)
    {
        if (_poolSlots[region] is { } mask)
        {
            return mask;
        }

        mask = new ulong[_fleetCache.SlotCapacity / 64];
        foreach (int r in pool)
        {
            mask[r >> 6] |= 1UL << (r & 63);
        }

        return _poolSlots[region] = mask;
    }

    /// <summary>
    /// Copies the load figures the oracle reads of a replica's engine into one array in fleet order, after every change
    /// to them (a submission, a planned step; a completed step is always followed by a plan), so a decision reads its
    /// candidates' loads in one sweep instead of asking each engine.
    /// </summary>
    private void RefreshLoad(SimReplica replica)
    {
        EngineState s = replica.Engine.State;
        _load[replica.Index] = new OracleLoad(s.WaitingTokens, s.RunningTokens, s.RunningPrefillTokens, s.RunningRequests, s.WaitingRequests);
    }

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
            _blocks.Clear();
            while (end < _cacheEvents.Count && _cacheEvents[end].Kind == kind)
            {
                _blocks.Add(_cacheEvents[end++].BlockHash);
            }

            Span<ulong> blocks = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_blocks);
            if (kind == CacheEventKind.Stored)
            {
                blocks.Reverse();
                _fleetCache.Record(replica.Index, blocks);
            }
            else
            {
                _fleetCache.Remove(replica.Index, blocks);
            }

            start = end;
        }
    }

    /// <summary>A replica's engine load as the oracle scores it.</summary>
    private readonly record struct OracleLoad(long WaitingTokens, long RunningTokens, long RunningPrefillTokens, int RunningRequests, int WaitingRequests);
}
