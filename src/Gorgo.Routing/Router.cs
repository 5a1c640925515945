using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;

namespace Gorgo.Routing;

/// <summary>
/// One region's router: holds its view of the fleet (replica snapshots, RTTs, prefix index, requests just routed)
/// and decides where each request goes with the configured policy and the GORGO cost model.
/// </summary>
/// <remarks>
/// The same class runs in a mesh node, in the centralized proxy and in the simulator. It is thread-safe: updates and
/// decisions are serialised by one lock, and a decision takes microseconds. Time comes from the supplied
/// <see cref="TimeProvider"/>, so a simulator can drive it on a virtual clock.
/// </remarks>
public sealed class Router
{
    private readonly Lock _gate = new();
    private readonly int _blockSize;
    private readonly double _maxStateAgeMs;
    private readonly TimeProvider _clock;
    private readonly CostModel _cost;
    private readonly PrefixIndex _index;
    private readonly Dictionary<string, ReplicaState> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _peerOrigins = new(StringComparer.Ordinal); // routers that told of their pending requests, by index
    private ReplicaState[] _replicas = [];
    private Candidate[] _candidates = []; // what a decision reads of each replica, in the order of _replicas
    private RttMatrix _rtt;
    private int _home;
    private bool[] _near = [];
    private bool[] _unreachable = [];
    private TransitAllowance[] _transit = []; // what requests forwarded to each region took beyond their estimates, by RTT matrix index
    private TtftCalibration _pooled; // the fit over every observation, for replicas observed too little to have their own

    /// <summary>Per-thread scratch of the decisions (matched blocks, eligible positions, scores): one set, warm in the cache, for every router a thread decides in.</summary>
    [ThreadStatic]
    private static DecisionScratch? t_scratch;

    /// <summary>Builds a router; throws <see cref="RoutingOptionsException"/> for invalid options or a home region missing from <paramref name="rtt"/>.</summary>
    public Router(RouterOptions options, RttMatrix rtt, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rtt);
        new OptionsErrors()
            .Include(options.Validate())
            .Check(string.IsNullOrWhiteSpace(options.Region) || rtt.Contains(options.Region), $"Region '{options.Region}' is not in the RTT matrix (known: {string.Join(", ", rtt.Regions)}).")
            .ThrowIfAny("router options");
        Options = options;
        _blockSize = options.BlockSize;
        _maxStateAgeMs = options.MaxStateAgeMs;
        Policy = PolicyCatalog.Create(options.Policy);
        _cost = new CostModel(options.Cost);
        _index = new PrefixIndex(options.Index);
        _clock = clock ?? TimeProvider.System;
        _rtt = rtt;
        _home = rtt.IndexOf(options.Region);
        _near = rtt.NearestMask(_home, options.NearestRegions);
        _unreachable = new bool[rtt.Regions.Count];
        _transit = new TransitAllowance[rtt.Regions.Count];
        _pooled = TtftCalibration.Start(options.Cost.FixedOverheadMs);
    }

    /// <summary>The configuration in force.</summary>
    public RouterOptions Options { get; }

    /// <summary>The region this router decides in.</summary>
    public string Region => Options.Region;

    /// <summary>The policy deciding.</summary>
    public IRoutingPolicy Policy { get; }

    /// <summary>The current RTT matrix.</summary>
    public RttMatrix Rtt
    {
        get
        {
            lock (_gate)
            {
                return _rtt;
            }
        }
    }

    /// <summary>The latest snapshot of every known replica, in fleet order.</summary>
    public IReadOnlyList<ReplicaView> Replicas
    {
        get
        {
            lock (_gate)
            {
                return _replicas.Select(r => r.View).ToArray();
            }
        }
    }

    /// <summary>The current time on the router's clock, in Unix milliseconds.</summary>
    public long NowMs => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Replaces the RTT matrix (e.g. after new probes); every known replica's region must still be in it.</summary>
    public void UpdateRtt(RttMatrix rtt)
    {
        ArgumentNullException.ThrowIfNull(rtt);
        lock (_gate)
        {
            int home = rtt.IndexOf(Region);
            if (home < 0)
            {
                throw new ArgumentException($"The new RTT matrix lacks this router's region '{Region}'.", nameof(rtt));
            }

            foreach (ReplicaState r in _replicas)
            {
                if (!rtt.Contains(r.View.Region))
                {
                    throw new ArgumentException($"The new RTT matrix lacks region '{r.View.Region}' of replica '{r.View.Id}'.", nameof(rtt));
                }
            }

            bool[] unreachable = new bool[rtt.Regions.Count];
            var transit = new TransitAllowance[rtt.Regions.Count];
            for (int i = 0; i < _unreachable.Length; i++)
            {
                if (rtt.IndexOf(_rtt.Regions[i]) is var moved and >= 0)
                {
                    unreachable[moved] = _unreachable[i];
                    transit[moved] = _transit[i];
                }
            }

            _unreachable = unreachable;
            _transit = transit;
            _rtt = rtt;
            _home = home;
            _near = rtt.NearestMask(home, Options.NearestRegions);
            foreach (ReplicaState r in _replicas)
            {
                Place(ref _candidates[r.Position], r.View.Region);
            }
        }
    }

    /// <summary>Adds a replica or replaces its snapshot with a newer one (older snapshots are ignored); returns false when ignored.</summary>
    public bool Upsert(ReplicaView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        lock (_gate)
        {
            ReplicaState? state = KnownState(view.Id);
            if (state is not null && ReferenceEquals(state.View, view))
            {
                // The same snapshot again (gossip relays one to a node by several paths): checked and read already.
                _candidates[state.Position].Pending.Prune(view.TakenAtMs, NowMs);
                _candidates[state.Position].PeerPending.Prune(view.TakenAtMs, NowMs, Options.PendingTimeoutMs);
                return true;
            }

            view.EnsureValid();
            bool moved = state is null || !string.Equals(view.Region, state.View.Region, StringComparison.Ordinal);
            if (moved && !_rtt.Contains(view.Region))
            {
                throw new ArgumentException($"Replica '{view.Id}' is in region '{view.Region}', which is not in the RTT matrix (known: {string.Join(", ", _rtt.Regions)}).", nameof(view));
            }

            if (state is not null)
            {
                if (view.TakenAtMs < state.View.TakenAtMs)
                {
                    return false;
                }

                ref Candidate c = ref _candidates[state.Position];
                state.View = view;
                c.Read(view);
                if (moved)
                {
                    Place(ref c, view.Region);
                }

                c.Pending.Prune(view.TakenAtMs, NowMs);
                c.PeerPending.Prune(view.TakenAtMs, NowMs, Options.PendingTimeoutMs);
                return true;
            }

            bool remote = _rtt.IndexOf(view.Region) != _home;
            int slot = _index.Register(view.Id, ownSet: remote && Options.Index.OwnSets == PrefixOwnSets.Remote);
            state = new ReplicaState(view, _replicas.Length);
            var candidate = new Candidate { Slot = slot, Calibration = TtftCalibration.Start(Options.Cost.FixedOverheadMs) };
            candidate.Read(view);
            Place(ref candidate, view.Region);
            _byId.Add(view.Id, state);
            _replicas = [.. _replicas, state];
            _candidates = [.. _candidates, candidate];
            return true;
        }
    }

    /// <summary>Forgets a replica, its cache view and its pending requests; returns false when unknown.</summary>
    public bool Remove(string replicaId)
    {
        lock (_gate)
        {
            if (!_byId.Remove(replicaId))
            {
                return false;
            }

            _index.RemoveReplica(replicaId);
            var replicas = new List<ReplicaState>(_replicas.Length);
            var candidates = new List<Candidate>(_replicas.Length);
            foreach (ReplicaState r in _replicas)
            {
                if (r.View.Id != replicaId)
                {
                    candidates.Add(_candidates[r.Position]);
                    r.Position = replicas.Count;
                    replicas.Add(r);
                }
            }

            _replicas = [.. replicas];
            _candidates = [.. candidates];
            return true;
        }
    }

    /// <summary>
    /// Takes a replica out of routing while its circuit breaker is open, or puts it back; its reported state is kept
    /// and later reports do not undo this. Returns false when the replica is unknown.
    /// </summary>
    public bool SetSuspended(string replicaId, bool suspended)
    {
        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state)
            {
                return false;
            }

            _candidates[state.Position].Suspended = suspended;
            return true;
        }
    }

    /// <summary>
    /// Takes every replica of a region out of routing while this node cannot reach it (a partition: its calls there
    /// fail), or puts them back; replicas of the region learnt later are left out too. Returns false for an unknown region.
    /// </summary>
    public bool SetRegionReachable(string region, bool reachable)
    {
        lock (_gate)
        {
            int index = _rtt.IndexOf(region);
            if (index < 0)
            {
                return false;
            }

            _unreachable[index] = !reachable;
            for (int i = 0; i < _candidates.Length; i++)
            {
                if (string.Equals(_candidates[i].Region, region, StringComparison.Ordinal))
                {
                    _candidates[i].Unreachable = !reachable;
                }
            }

            return true;
        }
    }

    /// <summary>Whether this node can reach a region (see <see cref="SetRegionReachable"/>); true for unknown regions.</summary>
    public bool IsReachable(string region)
    {
        lock (_gate)
        {
            int index = _rtt.IndexOf(region);
            return index < 0 || !_unreachable[index];
        }
    }

    /// <summary>
    /// Sets how the router knows a replica's cache: <see cref="CacheViewKind.Exact"/> stops recording its decisions
    /// there (the engine's events say what it holds); the others record them. Returns false when the replica is unknown.
    /// </summary>
    public bool SetCacheView(string replicaId, CacheViewKind kind)
    {
        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state)
            {
                return false;
            }

            _candidates[state.Position].CacheView = kind;
            return true;
        }
    }

    /// <summary>How the router knows a replica's cache (<see cref="CacheViewKind.Decisions"/> for an unknown one).</summary>
    public CacheViewKind CacheViewOf(string replicaId)
    {
        lock (_gate)
        {
            return KnownState(replicaId) is { } state ? _candidates[state.Position].CacheView : CacheViewKind.Decisions;
        }
    }

    /// <summary>How the router knows each replica's cache, by replica id.</summary>
    public IReadOnlyDictionary<string, CacheViewKind> CacheViews()
    {
        lock (_gate)
        {
            var views = new Dictionary<string, CacheViewKind>(StringComparer.Ordinal);
            foreach (ReplicaState state in _byId.Values)
            {
                views[state.View.Id] = _candidates[state.Position].CacheView;
            }

            return views;
        }
    }

    /// <summary>
    /// Feeds one observed TTFT of a request routed to <paramref name="replicaId"/> into its calibration: the model put
    /// the queue at <paramref name="queueMs"/> and the prefill at <paramref name="prefillMs"/> (the terms of
    /// <see cref="RoutingDecision.ChosenModelEstimate"/>) and the request's first token took <paramref name="observedMs"/> beyond
    /// the network time. A remote replica's observation also feeds its region's transit allowance; when the allowance is
    /// in use, the calibrations see the observation less the allowance, so that the two do not both absorb the same
    /// delay. Every observation also feeds the pooled fit that replicas without enough of their own use. Returns false
    /// when the replica is unknown.
    /// </summary>
    public bool Observe(string replicaId, double queueMs, double prefillMs, double observedMs)
    {
        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state)
            {
                return false;
            }

            ref Candidate c = ref _candidates[state.Position];
            double engineMs = observedMs;
            bool fits = c.IsHome || !Options.Cost.Calibration.OwnReplicasOnly;
            if (!c.IsHome)
            {
                // What the estimate left out, against the terms it used (the fit in use, else the model), before this
                // observation moves the fit; the engine's share is what remains beyond the allowance in force.
                long now = NowMs;
                TransitAllowanceOptions transit = Options.Cost.TransitAllowance;
                TtftEstimate estimated = Calibrated(ref c, new TtftEstimate(0, queueMs, prefillMs, Options.Cost.FixedOverheadMs));
                if (transit.Enabled)
                {
                    engineMs -= _transit[c.RegionIndex].CurrentMs(now, transit);
                }

                _transit[c.RegionIndex].Observe(observedMs - estimated.TotalMs, now, transit);
            }

            if (fits)
            {
                c.Calibration.Observe(queueMs, prefillMs, engineMs, Options.Cost.Calibration);
                _pooled.Observe(queueMs, prefillMs, engineMs, Options.Cost.Calibration);
            }

            return true;
        }
    }

    /// <summary>Each region's transit allowance as learned so far (whether or not <see cref="TransitAllowanceOptions.Enabled"/> uses it), by region name; regions never observed are left out.</summary>
    public IReadOnlyDictionary<string, (double AllowanceMs, long Observations)> TransitAllowances()
    {
        lock (_gate)
        {
            long now = NowMs;
            var allowances = new Dictionary<string, (double, long)>(StringComparer.Ordinal);
            for (int i = 0; i < _transit.Length; i++)
            {
                if (_transit[i].Observations > 0)
                {
                    allowances[_rtt.Regions[i]] = (_transit[i].CurrentMs(now, Options.Cost.TransitAllowance), _transit[i].Observations);
                }
            }

            return allowances;
        }
    }

    /// <summary>The calibration shaping a replica's estimates now (its own fit when ready, else the pooled one when ready); null when calibration is off or nothing is ready.</summary>
    public TtftCalibration? CalibrationInUse(string replicaId)
    {
        if (!Options.Cost.Calibration.Enabled)
        {
            return null;
        }

        lock (_gate)
        {
            return KnownState(replicaId) is { } state ? FitInUse(ref _candidates[state.Position]) : null;
        }
    }

    /// <summary>
    /// The prefill rate (ms per token) to publish for one of this router's own replicas whose configured rate is
    /// <paramref name="configuredMsPerToken"/>: that rate times the prefill gain of the fit in use, to three significant
    /// digits (so that a fit's small moves do not make a replica's gossiped state change every round), or the configured
    /// rate when calibration is off, the replica is not this router's own, or no fit is ready. Peers that calibrate only
    /// their own replicas (<see cref="CalibrationOptions.OwnReplicasOnly"/>) estimate with it.
    /// </summary>
    public double PublishedPrefillMsPerToken(string replicaId, double configuredMsPerToken)
    {
        if (!Options.Cost.Calibration.Enabled)
        {
            return configuredMsPerToken;
        }

        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state || !_candidates[state.Position].IsHome || FitInUse(ref _candidates[state.Position]) is not { } fit)
            {
                return configuredMsPerToken;
            }

            double rate = configuredMsPerToken * fit.PrefillGain;
            double step = Math.Pow(10, Math.Floor(Math.Log10(rate)) - 2);
            return Math.Round(rate / step) * step;
        }
    }

    /// <summary>The fit over every observation this router has made, which replicas without enough observations of their own use (fitted whether or not calibration is on).</summary>
    public TtftCalibration PooledCalibration
    {
        get
        {
            lock (_gate)
            {
                return _pooled;
            }
        }
    }

    /// <summary>The calibration of each replica this router fits, by replica id (fitted whether or not <see cref="CalibrationOptions.Enabled"/> uses it; its own region's only under <see cref="CalibrationOptions.OwnReplicasOnly"/>).</summary>
    public IReadOnlyDictionary<string, TtftCalibration> Calibrations()
    {
        lock (_gate)
        {
            var fits = new Dictionary<string, TtftCalibration>(StringComparer.Ordinal);
            foreach (ReplicaState state in _byId.Values)
            {
                ref Candidate c = ref _candidates[state.Position];
                if (c.IsHome || !Options.Cost.Calibration.OwnReplicasOnly)
                {
                    fits[state.View.Id] = c.Calibration;
                }
            }

            return fits;
        }
    }

    /// <summary>Whether a replica is taken out of routing by <see cref="SetSuspended"/>.</summary>
    public bool IsSuspended(string replicaId)
    {
        lock (_gate)
        {
            return KnownState(replicaId) is { } state && _candidates[state.Position].Suspended;
        }
    }

    /// <summary>Records blocks a replica reports (or is known) to hold, e.g. from its cache events.</summary>
    public void RecordCached(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            _index.Record(_candidates[RequireKnown(replicaId).Position].Slot, hashes);
        }
    }

    /// <summary>Records blocks a replica holds when the router knows the replica; false (and nothing recorded) when it does not.</summary>
    public bool TryRecordCached(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state)
            {
                return false;
            }

            _index.Record(_candidates[state.Position].Slot, hashes);
            return true;
        }
    }

    /// <summary>Makes <paramref name="hashes"/> exactly the blocks a known replica is believed to hold (e.g. an engine's whole cache from its events); false when unknown.</summary>
    public bool ReplaceCached(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            if (KnownState(replicaId) is not { } state)
            {
                return false;
            }

            int slot = _candidates[state.Position].Slot;
            _index.Remove(slot, _index.Summarize(replicaId).Hashes);
            _index.Record(slot, hashes);
            return true;
        }
    }

    /// <summary>How many prefix blocks this router believes <paramref name="replicaId"/> holds (0 for an unknown replica).</summary>
    public int CachedBlocks(string replicaId)
    {
        lock (_gate)
        {
            return _index.BlockCount(replicaId);
        }
    }

    /// <summary>The client-to-home RTT the estimates add for a client in <paramref name="clientRegion"/> (0 when it is not named).</summary>
    /// <exception cref="ArgumentException">The region is unknown.</exception>
    public double ClientLegMs(string? clientRegion)
    {
        lock (_gate)
        {
            return ClientLeg(clientRegion);
        }
    }

    /// <summary>Forgets blocks a replica reports evicted.</summary>
    public void RemoveCached(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            _index.Remove(replicaId, hashes);
        }
    }

    /// <summary>Merges a prefix summary (gossip, snapshot) for a known replica.</summary>
    public void ApplySummary(PrefixSummary summary, PrefixMergeMode mode)
    {
        ArgumentNullException.ThrowIfNull(summary);
        lock (_gate)
        {
            RequireKnown(summary.ReplicaId);
            _index.Apply(summary, mode);
        }
    }

    /// <summary>The hottest blocks of one replica as this router believes them, hottest first.</summary>
    public PrefixSummary Summarize(string replicaId, int maxBlocks = int.MaxValue)
    {
        lock (_gate)
        {
            return _index.Summarize(replicaId, maxBlocks);
        }
    }

    /// <summary>Copies one replica's hottest blocks as this router believes them, hottest first, into <paramref name="destination"/> (as many as fit); returns how many.</summary>
    public int Summarize(string replicaId, Span<ulong> destination)
    {
        lock (_gate)
        {
            return _index.Summarize(replicaId, destination);
        }
    }

    /// <summary>Matched prefix length in tokens of a prompt on one replica, as this router believes it.</summary>
    public int MatchedTokens(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            return _index.MatchedBlocks(replicaId, hashes) * Options.BlockSize;
        }
    }

    /// <summary>Requests routed to a replica and not yet reflected in its load report.</summary>
    public int PendingRequests(string replicaId)
    {
        lock (_gate)
        {
            return _byId.TryGetValue(replicaId, out ReplicaState? s) ? _candidates[s.Position].Pending.Count : 0;
        }
    }

    /// <summary>Adds this router's own pending requests (<see cref="PendingRequests"/>, every replica) to <paramref name="into"/>: what it tells other routers.</summary>
    public void ExportPending(List<PendingRequest> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (_gate)
        {
            long now = NowMs;
            for (int i = 0; i < _candidates.Length; i++)
            {
                ref Candidate c = ref _candidates[i];
                c.Pending.Prune(c.TakenAtMs, now);
                c.Pending.CopyTo(c.Id, into);
            }
        }
    }

    /// <summary>
    /// The requests the router of <paramref name="origin"/> says it has on their way to replicas (replacing what it said
    /// before; empty to forget them): until this router's view of a replica reflects them, they count in its queue as
    /// this router's own pending requests do. Replicas this router does not know are skipped. Off with
    /// <see cref="RouterOptions.CountPeerPendingWork"/>.
    /// </summary>
    public void SetPeerPending(string origin, IReadOnlyList<PendingRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(requests);
        if (!Options.CountPeerPendingWork || origin == Region)
        {
            return;
        }

        lock (_gate)
        {
            if (!_peerOrigins.TryGetValue(origin, out int index))
            {
                _peerOrigins[origin] = index = _peerOrigins.Count;
            }

            for (int i = 0; i < _candidates.Length; i++)
            {
                _candidates[i].PeerPending.Clear(index);
            }

            long now = NowMs;
            foreach (PendingRequest request in requests)
            {
                if (_byId.TryGetValue(request.ReplicaId, out ReplicaState? state))
                {
                    ref Candidate c = ref _candidates[state.Position];
                    if (request.ArrivesAtMs > c.TakenAtMs && request.ArrivesAtMs + Options.PendingTimeoutMs > now)
                    {
                        c.PeerPending.Add(index, Math.Max(0, request.Tokens), request.ArrivesAtMs);
                    }
                }
            }
        }
    }

    /// <summary>The region of a replica this router knows; null when it does not know it.</summary>
    public string? RegionOfReplica(string replicaId)
    {
        lock (_gate)
        {
            return KnownState(replicaId)?.View.Region;
        }
    }

    /// <summary>Requests other routers said are on their way to <paramref name="replicaId"/> and its view does not reflect yet (0 when unknown).</summary>
    public int PeerPendingRequests(string replicaId)
    {
        lock (_gate)
        {
            return _byId.TryGetValue(replicaId, out ReplicaState? s) ? _candidates[s.Position].PeerPending.Count : 0;
        }
    }

    /// <summary>Scores every eligible replica, lets the policy choose, and records the choice as pending work.</summary>
    /// <exception cref="RoutingException">No replica can take the request; <see cref="RoutingException.Failure"/> says why.</exception>
    public RoutingDecision Route(in RoutingRequest request) => Route(request, new RoutingDecision());

    /// <summary>
    /// As <see cref="Route(in RoutingRequest)"/>, writing the decision into <paramref name="into"/> (a record the caller
    /// no longer needs, or a new one) instead of a new record: with a reused record a decision allocates nothing.
    /// </summary>
    /// <returns><paramref name="into"/>.</returns>
    /// <exception cref="RoutingException">No replica can take the request; <paramref name="into"/> is left as it was.</exception>
    public RoutingDecision Route(in RoutingRequest request, RoutingDecision into)
    {
        ArgumentNullException.ThrowIfNull(into);
        EnsureRoutable(request);
        lock (_gate)
        {
            long now = NowMs;
            ScoreAndChoose(request, now, into.Scores, out PolicyChoice choice, out TtftEstimate model);
            into.Set(Policy.Name, Region, request.RequestId, now, request.Prompt.TokenCount, choice.Chosen, choice.RunnerUp, model);
            return into;
        }
    }

    /// <summary>
    /// Routes as <see cref="Route(in RoutingRequest)"/> does (same choice, same pending work and learning) without keeping a record of every
    /// candidate: for callers on a hot loop, such as the simulator, that only need the choice.
    /// </summary>
    /// <exception cref="RoutingException">No replica can take the request; <see cref="RoutingException.Failure"/> says why.</exception>
    public RoutedChoice RouteChoice(in RoutingRequest request)
    {
        EnsureRoutable(request);
        lock (_gate)
        {
            ReadOnlySpan<CandidateScore> candidates = ScoreAndChoose(request, NowMs, into: null, out PolicyChoice choice, out TtftEstimate model);
            bool homeIdleOverride = request.ClientRegion is { } client && RoutingDecision.IsHomeIdleOverride(candidates, choice.Chosen, client);
            return new RoutedChoice(candidates[choice.Chosen], candidates.Length, homeIdleOverride, model);
        }
    }

    private void EnsureRoutable(in RoutingRequest request)
    {
        if (request.Prompt.BlockSize != Options.BlockSize)
        {
            throw new ArgumentException($"The prompt was hashed with {request.Prompt.BlockSize}-token blocks; this router uses {Options.BlockSize}.", nameof(request));
        }

        if (request.Prompt.TokenCount <= 0)
        {
            throw new ArgumentException("The prompt is empty.", nameof(request));
        }

        if (request.MaxOutputTokens < 0)
        {
            throw new ArgumentException($"MaxOutputTokens cannot be negative (got {request.MaxOutputTokens}).", nameof(request));
        }
    }

    /// <summary>
    /// Routes a request another region's node sent to this router's region, as it arrives. The policy chooses among the
    /// home replicas, as <see cref="RouteChoice"/> with <see cref="RoutingScope.HomeOnly"/> would, unless
    /// <paramref name="relayFactor"/> is above 0, the policy ranks by estimated TTFT, and either no home replica can take
    /// the request, or both: the best home replica's engine time (its estimate less the network) exceeds
    /// <paramref name="expectedEngineMs"/>, what the sender expected of the engine it chose, times the factor (the region
    /// turned out far worse than the sender saw), and another region's best replica's estimate times the factor is below
    /// the best home replica's. Then that replica is chosen, a relay onwards. <paramref name="request"/>'s client region
    /// should be the sender's, so that every estimate includes the leg back to it. The choice is recorded as any
    /// decision is.
    /// </summary>
    /// <exception cref="RoutingException">No replica the rule allows can take the request.</exception>
    public RoutedChoice RouteOnArrival(in RoutingRequest request, double relayFactor, double expectedEngineMs)
    {
        EnsureRoutable(request);
        lock (_gate)
        {
            long now = NowMs;
            if (relayFactor > 0 && Policy.RanksByEstimate)
            {
                RoutingRequest global = request with { Scope = RoutingScope.Global };
                ReadOnlySpan<CandidateScore> all = ScoreEligible(global, now, into: null, out int[] eligible, out int[] matchedBlocks, out double clientLeg);
                int home = CandidateRanking.Best(all, default(EstimatedTtftOrder), home: true);
                int remote = CandidateRanking.Best(all, default(EstimatedTtftOrder), home: false);
                if (remote >= 0 && (home < 0 || (Surprised(all[home].Estimate, expectedEngineMs, relayFactor) && all[remote].Estimate.TotalMs * relayFactor < all[home].Estimate.TotalMs)))
                {
                    TtftEstimate model = Commit(ref _candidates[eligible[remote]], all[remote], global, matchedBlocks, clientLeg, now);
                    return new RoutedChoice(all[remote], all.Length, HomeIdleOverride: false, model);
                }
            }

            RoutingRequest homeOnly = request with { Scope = RoutingScope.HomeOnly };
            ReadOnlySpan<CandidateScore> candidates = ScoreAndChoose(homeOnly, now, into: null, out PolicyChoice choice, out TtftEstimate chosenModel);
            return new RoutedChoice(candidates[choice.Chosen], candidates.Length, HomeIdleOverride: false, chosenModel);
        }
    }

    /// <summary>Whether a home estimate's engine time exceeds what the sender expected (unknown: 0) by the factor.</summary>
    private static bool Surprised(in TtftEstimate home, double expectedEngineMs, double relayFactor) =>
        expectedEngineMs > 0 && home.EngineMs > expectedEngineMs * relayFactor;

    /// <summary>
    /// Scores the eligible replicas into <paramref name="into"/> (a decision record's buffer) or else this thread's
    /// scratch, lets the policy choose, records the choice; returns the scores (the scratch's are valid until the
    /// thread's next decision) and the chosen replica's estimate by the uncalibrated model. Nothing is written to
    /// <paramref name="into"/> when no replica can take the request.
    /// </summary>
    private ReadOnlySpan<CandidateScore> ScoreAndChoose(in RoutingRequest request, long now, CandidateList? into, out PolicyChoice choice, out TtftEstimate chosenModel)
    {
        ReadOnlySpan<CandidateScore> scores = ScoreEligible(request, now, into, out int[] eligible, out int[] matchedBlocks, out double clientLeg);
        choice = Policy.Choose(scores, new PolicyContext(request.Prompt.TokenCount, request.ClientRegion));
        chosenModel = Commit(ref _candidates[eligible[choice.Chosen]], scores[choice.Chosen], request, matchedBlocks, clientLeg, now);
        return scores;
    }

    /// <summary>
    /// Scores the eligible replicas into <paramref name="into"/> or else this thread's scratch, recording nothing;
    /// <paramref name="eligible"/> maps each score to its candidate position, <paramref name="matchedBlocks"/> holds
    /// the prompt's match per index slot.
    /// </summary>
    private ReadOnlySpan<CandidateScore> ScoreEligible(in RoutingRequest request, long now, CandidateList? into, out int[] eligible, out int[] matchedBlocks, out double clientLeg)
    {
        DecisionScratch scratch = t_scratch ??= new DecisionScratch();
        clientLeg = ClientLeg(request.ClientRegion);
        matchedBlocks = scratch.MatchedBlocks(_index.SlotCapacity);
        _index.Match(request.Prompt.Hashes.Span, matchedBlocks);

        eligible = scratch.EligiblePositions(_candidates.Length);
        int count = CollectEligible(request, now, eligible);
        Span<CandidateScore> scores = into is null ? scratch.Scores(count) : into.Reset(count);
        ReadOnlySpan<double> transit = TransitAllowancesNow(scratch.Transit(_transit.Length), now);
        for (int i = 0; i < count; i++)
        {
            Score(ref _candidates[eligible[i]], matchedBlocks, request.Prompt.TokenCount, request.MaxOutputTokens, clientLeg, now, transit, out scores[i]);
        }

        return scores;
    }

    /// <summary>Records a choice: its pending work on <paramref name="target"/> and what the index learns from it; returns its estimate by the uncalibrated model.</summary>
    private TtftEstimate Commit(ref Candidate target, in CandidateScore chosen, in RoutingRequest request, int[] matchedBlocks, double clientLeg, long now)
    {
        TtftEstimate chosenModel = Options.Cost.Calibration.Enabled ? ModelEstimate(ref target, chosen.UncachedTokens, request.MaxOutputTokens, clientLeg) : chosen.Estimate;
        if (Options.TrackPendingWork)
        {
            long arrivesAt = now + (long)Math.Ceiling(target.RttFromHomeMs / 2);
            target.Pending.Add(chosen.UncachedTokens, arrivesAt, now + (long)Options.PendingTimeoutMs);
        }

        if (Options.LearnFromDecisions && (target.CacheView != CacheViewKind.Exact || request.OwnRendering))
        {
            _index.Record(target.Slot, request.Prompt.Hashes.Span, heldPrefix: matchedBlocks[target.Slot]);
        }

        return chosenModel;
    }

    /// <summary>Each region's transit allowance in force now (0 everywhere when the allowance is off), once per decision rather than once per candidate.</summary>
    private Span<double> TransitAllowancesNow(Span<double> into, long now)
    {
        TransitAllowanceOptions options = Options.Cost.TransitAllowance;
        for (int i = 0; i < into.Length; i++)
        {
            into[i] = options.Enabled && i != _home ? _transit[i].CurrentMs(now, options) : 0;
        }

        return into;
    }

    /// <summary>A candidate's estimate with the fit in use applied (see <see cref="FitInUse"/>); the model's otherwise.</summary>
    private TtftEstimate Calibrated(ref Candidate c, TtftEstimate model) =>
        Options.Cost.Calibration.Enabled && FitInUse(ref c) is { } fit ? fit.Apply(model, Options.Cost.FixedOverheadMs) : model;

    /// <summary>
    /// The fit a candidate's estimates use: its own once it has enough observations, else the pooled fit once that has,
    /// else none. Without the fallback, replicas a router rarely chose would keep the uncalibrated model and, when the
    /// engines are slower than modelled, look cheaper than the ones it has learned about.
    /// </summary>
    private TtftCalibration? FitInUse(ref Candidate c)
    {
        CalibrationOptions options = Options.Cost.Calibration;
        if (options.OwnReplicasOnly && !c.IsHome)
        {
            return null; // its owner's fit is in the prefill rate its view carries
        }

        return c.Calibration.IsReady(options) ? c.Calibration : _pooled.IsReady(options) ? _pooled : null;
    }

    private void Score(ref Candidate c, int[] matchedBlocks, int promptTokens, int outputTokens, double clientLeg, long now, ReadOnlySpan<double> transitByRegion, out CandidateScore score)
    {
        int matched = Math.Min(matchedBlocks[c.Slot] * _blockSize, promptTokens);
        int uncached = promptTokens - matched;
        int pendingCount = c.PendingCount;
        long pendingTokens = c.PendingTokens;
        TtftEstimate model = ModelEstimate(ref c, uncached, outputTokens, clientLeg);
        TtftEstimate estimate = Calibrated(ref c, model);
        double transit = c.IsHome ? 0 : transitByRegion[c.RegionIndex];
        if (transit > 0)
        {
            estimate = new TtftEstimate(estimate.NetworkMs, estimate.QueueMs, estimate.PrefillMs, estimate.OverheadMs + transit);
        }

        score = new CandidateScore(
            c.Id,
            c.Region,
            c.IsHome,
            c.Health,
            matched,
            uncached,
            c.Outstanding,
            c.QueuedRequests + pendingCount,
            c.RunningTokens + c.QueuedTokens + pendingTokens,
            pendingCount,
            Math.Max(0, now - c.TakenAtMs),
            estimate,
            c.MaxRunningRequests > 0 && c.Outstanding >= c.MaxRunningRequests,
            transit);
    }

    /// <summary>The cost model's estimate for a candidate, before any calibration.</summary>
    private TtftEstimate ModelEstimate(ref Candidate c, int uncached, int outputTokens, double clientLeg) => _cost.Estimate(new CostInputs(
        RttMs: c.RttFromHomeMs,
        ClientLegMs: clientLeg,
        QueuedTokens: c.QueuedTokens + c.PendingTokens,
        RunningTokens: c.RunningTokens,
        UncachedTokens: uncached,
        PrefillMsPerToken: c.PrefillMsPerToken,
        Degraded: c.Health == ReplicaHealth.Degraded,
        RunningPrefillTokens: c.RunningPrefillTokens,
        OutstandingRequests: c.Outstanding,
        BatchSlots: c.MaxRunningRequests,
        DecodeMsPerRequest: c.DecodeMsPerRequest,
        DecodeStepMs: c.DecodeStepMs,
        OutputTokens: outputTokens));

    /// <summary>Fills <paramref name="eligible"/> with the candidates' positions, in fleet order; throws when there are none.</summary>
    private int CollectEligible(in RoutingRequest request, long now, int[] eligible)
    {
        int count = 0;
        Eligible best = Eligible.WrongModel;
        Candidate[] candidates = _candidates;
        for (int i = 0; i < candidates.Length; i++)
        {
            ref Candidate c = ref candidates[i];
            if (!c.IsNear)
            {
                continue;
            }

            c.Pending.Prune(c.TakenAtMs, now);
            c.PeerPending.Prune(c.TakenAtMs, now, Options.PendingTimeoutMs);
            Eligible e = Eligibility(ref c, request, now);
            if (e == Eligible.Yes)
            {
                eligible[count++] = i;
            }
            else if (e > best)
            {
                best = e;
            }
        }

        if (count > 0 && request.Scope != RoutingScope.Global)
        {
            count = ApplyScope(request.Scope, eligible, count);
            if (count == 0)
            {
                throw new RoutingException(RoutingFailure.NoHealthyReplica, $"No replica of '{request.Model ?? "(any)"}' in region '{Region}' can take the request.");
            }
        }

        return count > 0 ? count : throw NoCandidate(best, request);
    }

    /// <summary>Keeps the home candidates, or, when the scope overflows a saturated home region, the remote ones; returns the new count.</summary>
    private int ApplyScope(RoutingScope scope, int[] eligible, int count)
    {
        bool homeHasRoom = false;
        bool anyRemote = false;
        for (int i = 0; i < count; i++)
        {
            ref Candidate c = ref _candidates[eligible[i]];
            homeHasRoom |= c.IsHome && c.Outstanding < c.MaxRunningRequests;
            anyRemote |= !c.IsHome;
        }

        bool keepHome = scope == RoutingScope.HomeOnly || homeHasRoom || !anyRemote;
        int kept = 0;
        for (int i = 0; i < count; i++)
        {
            if (_candidates[eligible[i]].IsHome == keepHome)
            {
                eligible[kept++] = eligible[i];
            }
        }

        return kept;
    }

    private Eligible Eligibility(ref Candidate c, in RoutingRequest request, long now)
    {
        if (request.Model is not null && !string.Equals(c.Model, request.Model, StringComparison.Ordinal))
        {
            return Eligible.WrongModel;
        }

        if (!c.IsRoutable || c.Suspended || c.Unreachable || now - c.TakenAtMs > _maxStateAgeMs)
        {
            return Eligible.Unhealthy;
        }

        if (c.MaxContextTokens > 0 && (long)request.Prompt.TokenCount + request.MaxOutputTokens > c.MaxContextTokens)
        {
            return Eligible.TooLong;
        }

        // Full when its batch and its queue are: requests just routed there may be running or waiting, so all count.
        if (c.MaxQueuedRequests > 0 && c.Outstanding >= c.MaxRunningRequests + c.MaxQueuedRequests)
        {
            return Eligible.Full;
        }

        if (request.RequireFreeSlot && c.MaxRunningRequests > 0 && c.Outstanding >= c.MaxRunningRequests)
        {
            return Eligible.Full;
        }

        if (c.KvCacheUtilization >= request.MaxKvUtilization)
        {
            return Eligible.Full;
        }

        return Eligible.Yes;
    }

    private RoutingException NoCandidate(Eligible best, in RoutingRequest request)
    {
        string model = request.Model ?? "(any)";
        return best switch
        {
            Eligible.WrongModel => new RoutingException(RoutingFailure.ModelNotFound, $"No replica serves model '{model}'."),
            Eligible.Unhealthy => new RoutingException(RoutingFailure.NoHealthyReplica, $"No healthy replica with fresh state serves model '{model}'."),
            Eligible.TooLong => new RoutingException(RoutingFailure.PromptTooLong, $"A prompt of {request.Prompt.TokenCount} tokens plus {request.MaxOutputTokens} output tokens exceeds the context of every healthy replica of '{model}'."),
            _ => new RoutingException(RoutingFailure.Saturated, $"Every healthy replica of '{model}' has a full queue."),
        };
    }

    private double ClientLeg(string? clientRegion)
    {
        if (clientRegion is null)
        {
            return 0;
        }

        int client = _rtt.IndexOf(clientRegion);
        return client >= 0
            ? _rtt[client, _home]
            : throw new ArgumentException($"Unknown client region '{clientRegion}'. Known regions: {string.Join(", ", _rtt.Regions)}.", nameof(clientRegion));
    }

    /// <summary>The state of a known replica, or null (also for a null id, which validation then reports).</summary>
    private ReplicaState? KnownState(string? replicaId) => replicaId is null ? null : _byId.GetValueOrDefault(replicaId);

    private ReplicaState RequireKnown(string replicaId) =>
        _byId.TryGetValue(replicaId, out ReplicaState? s)
            ? s
            : throw new ArgumentException($"Unknown replica '{replicaId}'; add it with Upsert first.", nameof(replicaId));

    /// <summary>Why a replica is or is not a candidate; later values are "closer" to eligible, for the error message.</summary>
    private enum Eligible
    {
        WrongModel,
        Unhealthy,
        TooLong,
        Full,
        Yes,
    }

    /// <summary>
    /// What eligibility and scoring read of one replica: its view's figures, its placement relative to the home region,
    /// its pending work. Held by value in one array in fleet order, so a decision's scan over a region's candidates
    /// streams through memory instead of visiting an object (and its view and pending queue) per candidate.
    /// </summary>
    private struct Candidate
    {
        public string Id;
        public string Region;
        public string Model;
        public long TakenAtMs;
        public long QueuedTokens;
        public long RunningTokens;
        public double RunningPrefillTokens; // NaN when the replica does not report it
        public double DecodeMsPerRequest; // NaN when the replica does not report it
        public double DecodeStepMs; // NaN when the replica does not report it
        public double KvCacheUtilization;
        public double PrefillMsPerToken;
        public double RttFromHomeMs;
        public int RunningRequests;
        public int QueuedRequests;
        public int MaxRunningRequests;
        public int MaxQueuedRequests;
        public int MaxContextTokens;
        public int Slot;
        public ReplicaHealth Health;
        public bool IsRoutable;
        public bool Suspended;
        public CacheViewKind CacheView;
        public TtftCalibration Calibration;
        public bool Unreachable;
        public bool IsHome;
        public int RegionIndex;
        public bool IsNear;
        public PendingWork Pending;
        public PeerPendingWork PeerPending;

        /// <summary>Requests on their way here that its view does not reflect: this router's and those other routers told of.</summary>
        public readonly int PendingCount => Pending.Count + PeerPending.Count;

        /// <summary>Requests running, queued and on their way here: what fills its batch slots and its queue.</summary>
        public readonly int Outstanding => RunningRequests + QueuedRequests + PendingCount;

        /// <summary>The prompt tokens of <see cref="PendingCount"/>'s requests.</summary>
        public readonly long PendingTokens => Pending.Tokens + PeerPending.Tokens;

        /// <summary>Copies a view's figures (placement and pending work are kept).</summary>
        public void Read(ReplicaView view)
        {
            Id = view.Id;
            Region = view.Region;
            Model = view.Model;
            TakenAtMs = view.TakenAtMs;
            QueuedTokens = view.QueuedTokens;
            RunningTokens = view.RunningTokens;
            RunningPrefillTokens = view.RunningPrefillTokens ?? double.NaN;
            DecodeMsPerRequest = view.DecodeMsPerRequest ?? double.NaN;
            DecodeStepMs = view.DecodeStepMs ?? double.NaN;
            KvCacheUtilization = view.KvCacheUtilization;
            PrefillMsPerToken = view.PrefillMsPerToken;
            RunningRequests = view.RunningRequests;
            QueuedRequests = view.QueuedRequests;
            MaxRunningRequests = view.MaxRunningRequests;
            MaxQueuedRequests = view.MaxQueuedRequests;
            MaxContextTokens = view.MaxContextTokens;
            Health = view.Health;
            IsRoutable = view.IsRoutable;
        }
    }

    /// <summary>Caches a candidate's placement relative to the router's home region.</summary>
    private void Place(ref Candidate c, string region)
    {
        int index = _rtt.IndexOf(region);
        c.RegionIndex = index;
        c.RttFromHomeMs = _rtt[_home, index];
        c.IsHome = index == _home;
        c.IsNear = _near[index];
        c.Unreachable = _unreachable[index];
    }

    /// <summary>A known replica: its latest view and its position in the candidate array.</summary>
    private sealed class ReplicaState(ReplicaView view, int position)
    {
        public ReplicaView View { get; set; } = view;

        public int Position { get; set; } = position;
    }

    /// <summary>Buffers a thread's decisions reuse, grown on demand (one set per thread suffices: a decision holds its router's lock throughout and no policy calls back into a router).</summary>
    private sealed class DecisionScratch
    {
        private int[] _matchedBlocks = new int[64];
        private int[] _eligible = new int[64];
        private CandidateScore[] _scores = new CandidateScore[64];
        private double[] _transit = new double[16];

        public int[] MatchedBlocks(int slots) => _matchedBlocks.Length >= slots ? _matchedBlocks : _matchedBlocks = new int[Math.Max(slots, _matchedBlocks.Length * 2)];

        public Span<double> Transit(int regions) => (_transit.Length >= regions ? _transit : _transit = new double[Math.Max(regions, _transit.Length * 2)]).AsSpan(0, regions);

        public int[] EligiblePositions(int candidates) => _eligible.Length >= candidates ? _eligible : _eligible = new int[Math.Max(candidates, _eligible.Length * 2)];

        public Span<CandidateScore> Scores(int count)
        {
            if (_scores.Length < count)
            {
                _scores = new CandidateScore[Math.Max(count, _scores.Length * 2)];
            }

            return _scores.AsSpan(0, count);
        }
    }
}
