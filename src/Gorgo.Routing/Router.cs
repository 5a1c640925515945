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
    private ReplicaState[] _replicas = [];
    private RttMatrix _rtt;
    private int _home;
    private bool[] _near = [];
    private int[] _matchedBlocks = new int[64];
    private ReplicaState[] _eligible = [];
    private CandidateScore[] _scores = [];

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

            _rtt = rtt;
            _home = home;
            _near = rtt.NearestMask(home, Options.NearestRegions);
            foreach (ReplicaState r in _replicas)
            {
                r.Place(rtt, home, _near);
            }
        }
    }

    /// <summary>Adds a replica or replaces its snapshot with a newer one (older snapshots are ignored); returns false when ignored.</summary>
    public bool Upsert(ReplicaView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        view.EnsureValid();
        lock (_gate)
        {
            if (!_rtt.Contains(view.Region))
            {
                throw new ArgumentException($"Replica '{view.Id}' is in region '{view.Region}', which is not in the RTT matrix (known: {string.Join(", ", _rtt.Regions)}).", nameof(view));
            }

            if (_byId.TryGetValue(view.Id, out ReplicaState? state))
            {
                if (view.TakenAtMs < state.View.TakenAtMs)
                {
                    return false;
                }

                state.View = view;
                state.Place(_rtt, _home, _near);
                state.Pending.Prune(view.TakenAtMs, NowMs);
                return true;
            }

            bool remote = _rtt.IndexOf(view.Region) != _home;
            state = new ReplicaState(view, _index.Register(view.Id, ownSet: remote && Options.Index.OwnSets == PrefixOwnSets.Remote));
            state.Place(_rtt, _home, _near);
            _byId.Add(view.Id, state);
            _replicas = [.. _replicas, state];
            EnsureMatchScratch();
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
            _replicas = _replicas.Where(r => r.View.Id != replicaId).ToArray();
            return true;
        }
    }

    /// <summary>Records blocks a replica reports (or is known) to hold, e.g. from its cache events.</summary>
    public void RecordCached(string replicaId, ReadOnlySpan<ulong> hashes)
    {
        lock (_gate)
        {
            _index.Record(RequireKnown(replicaId).Slot, hashes);
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
            return _byId.TryGetValue(replicaId, out ReplicaState? s) ? s.Pending.Count : 0;
        }
    }

    /// <summary>Scores every eligible replica, lets the policy choose, and records the choice as pending work.</summary>
    /// <exception cref="RoutingException">No replica can take the request; <see cref="RoutingException.Failure"/> says why.</exception>
    public RoutingDecision Route(in RoutingRequest request)
    {
        EnsureRoutable(request);
        lock (_gate)
        {
            long now = NowMs;
            int count = ScoreAndChoose(request, now, out PolicyChoice choice);
            CandidateScore[] candidates = _scores.AsSpan(0, count).ToArray();
            return new RoutingDecision(Policy.Name, Region, request.RequestId, now, request.Prompt.TokenCount, candidates, choice.Chosen, choice.RunnerUp);
        }
    }

    /// <summary>
    /// Routes as <see cref="Route"/> does (same choice, same pending work and learning) without keeping a record of every
    /// candidate: for callers on a hot loop, such as the simulator, that only need the choice.
    /// </summary>
    /// <exception cref="RoutingException">No replica can take the request; <see cref="RoutingException.Failure"/> says why.</exception>
    public RoutedChoice RouteChoice(in RoutingRequest request)
    {
        EnsureRoutable(request);
        lock (_gate)
        {
            int count = ScoreAndChoose(request, NowMs, out PolicyChoice choice);
            ReadOnlySpan<CandidateScore> candidates = _scores.AsSpan(0, count);
            bool pathological = request.ClientRegion is { } client && RoutingDecision.IsPathological(candidates, choice.Chosen, client);
            return new RoutedChoice(candidates[choice.Chosen], count, pathological);
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

    /// <summary>Scores the eligible replicas into <see cref="_scores"/>, lets the policy choose, records the choice; returns the candidate count.</summary>
    private int ScoreAndChoose(in RoutingRequest request, long now, out PolicyChoice choice)
    {
        double clientLeg = ClientLeg(request.ClientRegion);
        ReadOnlySpan<ulong> hashes = request.Prompt.Hashes.Span;
        _index.Match(hashes, _matchedBlocks);

        int count = CollectEligible(request, now);
        if (_scores.Length < count)
        {
            _scores = new CandidateScore[Math.Max(count, _scores.Length * 2)];
        }

        for (int i = 0; i < count; i++)
        {
            Score(_eligible[i], request.Prompt.TokenCount, clientLeg, now, out _scores[i]);
        }

        choice = Policy.Choose(_scores.AsSpan(0, count), new PolicyContext(request.Prompt.TokenCount, request.ClientRegion));
        CandidateScore chosen = _scores[choice.Chosen];
        ReplicaState target = _eligible[choice.Chosen];
        Array.Clear(_eligible, 0, count);
        if (Options.TrackPendingWork)
        {
            long arrivesAt = now + (long)Math.Ceiling(target.RttFromHomeMs / 2);
            target.Pending.Add(chosen.UncachedTokens, arrivesAt, now + (long)Options.PendingTimeoutMs);
        }

        if (Options.LearnFromDecisions)
        {
            _index.Record(target.Slot, hashes, heldPrefix: _matchedBlocks[target.Slot]);
        }

        return count;
    }

    private void Score(ReplicaState r, int promptTokens, double clientLeg, long now, out CandidateScore score)
    {
        ref readonly ViewFacts v = ref r.Facts;
        int matched = Math.Min(_matchedBlocks[r.Slot] * _blockSize, promptTokens);
        int uncached = promptTokens - matched;
        TtftEstimate estimate = _cost.Estimate(new CostInputs(
            RttMs: r.RttFromHomeMs,
            ClientLegMs: clientLeg,
            QueuedTokens: v.QueuedTokens + r.Pending.Tokens,
            RunningTokens: v.RunningTokens,
            UncachedTokens: uncached,
            PrefillMsPerToken: v.PrefillMsPerToken,
            Degraded: v.Health == ReplicaHealth.Degraded,
            RunningPrefillTokens: v.RunningPrefillTokens ?? double.NaN));
        score = new CandidateScore(
            v.Id,
            v.Region,
            r.IsHome,
            v.Health,
            matched,
            uncached,
            v.RunningRequests + v.QueuedRequests + r.Pending.Count,
            v.QueuedRequests + r.Pending.Count,
            v.RunningTokens + v.QueuedTokens + r.Pending.Tokens,
            r.Pending.Count,
            Math.Max(0, now - v.TakenAtMs),
            estimate,
            v.MaxRunningRequests > 0 && v.RunningRequests + v.QueuedRequests + r.Pending.Count >= v.MaxRunningRequests);
    }

    /// <summary>Fills <see cref="_eligible"/> with the candidates, in fleet order; throws when there are none.</summary>
    private int CollectEligible(in RoutingRequest request, long now)
    {
        if (_eligible.Length < _replicas.Length)
        {
            _eligible = new ReplicaState[_replicas.Length];
        }

        int count = 0;
        Eligible best = Eligible.WrongModel;
        foreach (ReplicaState r in _replicas)
        {
            if (!r.IsNear)
            {
                continue;
            }

            r.Pending.Prune(r.Facts.TakenAtMs, now);
            Eligible e = Eligibility(r, request, now);
            if (e == Eligible.Yes)
            {
                _eligible[count++] = r;
            }
            else if (e > best)
            {
                best = e;
            }
        }

        if (count > 0 && request.Scope != RoutingScope.All)
        {
            count = ApplyScope(request.Scope, count);
            if (count == 0)
            {
                throw new RoutingException(RoutingFailure.NoHealthyReplica, $"No replica of '{request.Model ?? "(any)"}' in region '{Region}' can take the request.");
            }
        }

        return count > 0 ? count : throw NoCandidate(best, request);
    }

    /// <summary>Keeps the home candidates, or, when the scope overflows a saturated home region, the remote ones; returns the new count.</summary>
    private int ApplyScope(RoutingScope scope, int count)
    {
        bool homeHasRoom = false;
        bool anyRemote = false;
        for (int i = 0; i < count; i++)
        {
            ReplicaState r = _eligible[i];
            ref readonly ViewFacts v = ref r.Facts;
            homeHasRoom |= r.IsHome && v.RunningRequests + v.QueuedRequests + r.Pending.Count < v.MaxRunningRequests;
            anyRemote |= !r.IsHome;
        }

        bool keepHome = scope == RoutingScope.HomeOnly || homeHasRoom || !anyRemote;
        int kept = 0;
        for (int i = 0; i < count; i++)
        {
            if (_eligible[i].IsHome == keepHome)
            {
                _eligible[kept++] = _eligible[i];
            }
        }

        Array.Clear(_eligible, kept, count - kept);
        return kept;
    }

    private Eligible Eligibility(ReplicaState r, in RoutingRequest request, long now)
    {
        ref readonly ViewFacts v = ref r.Facts;
        if (request.Model is not null && !string.Equals(v.Model, request.Model, StringComparison.Ordinal))
        {
            return Eligible.WrongModel;
        }

        if (!v.IsRoutable || now - v.TakenAtMs > _maxStateAgeMs)
        {
            return Eligible.Unhealthy;
        }

        if (v.MaxContextTokens > 0 && (long)request.Prompt.TokenCount + request.MaxOutputTokens > v.MaxContextTokens)
        {
            return Eligible.TooLong;
        }

        if (v.MaxQueuedRequests > 0 && v.QueuedRequests + r.Pending.Count >= v.MaxQueuedRequests)
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

    private ReplicaState RequireKnown(string replicaId) =>
        _byId.TryGetValue(replicaId, out ReplicaState? s)
            ? s
            : throw new ArgumentException($"Unknown replica '{replicaId}'; add it with Upsert first.", nameof(replicaId));

    private void EnsureMatchScratch()
    {
        if (_matchedBlocks.Length < _index.SlotCapacity)
        {
            _matchedBlocks = new int[_index.SlotCapacity];
        }
    }

    /// <summary>Why a replica is or is not a candidate; later values are "closer" to eligible, for the error message.</summary>
    private enum Eligible
    {
        WrongModel,
        Unhealthy,
        TooLong,
        Full,
        Yes,
    }

    /// <summary>What scoring and eligibility read of a <see cref="ReplicaView"/>, held by value.</summary>
    private readonly struct ViewFacts(ReplicaView view)
    {
        public readonly string Id = view.Id;
        public readonly string Region = view.Region;
        public readonly string Model = view.Model;
        public readonly ReplicaHealth Health = view.Health;
        public readonly long TakenAtMs = view.TakenAtMs;
        public readonly int RunningRequests = view.RunningRequests;
        public readonly int QueuedRequests = view.QueuedRequests;
        public readonly long RunningTokens = view.RunningTokens;
        public readonly long QueuedTokens = view.QueuedTokens;
        public readonly long? RunningPrefillTokens = view.RunningPrefillTokens;
        public readonly double PrefillMsPerToken = view.PrefillMsPerToken;
        public readonly int MaxRunningRequests = view.MaxRunningRequests;
        public readonly int MaxQueuedRequests = view.MaxQueuedRequests;
        public readonly int MaxContextTokens = view.MaxContextTokens;
        public readonly bool IsRoutable = view.IsRoutable;
    }

    private sealed class ReplicaState(ReplicaView view, int slot)
    {
        /// <summary>The view's fields a decision reads, copied into the state so a scan over candidates stays in it.</summary>
        public ViewFacts Facts = new(view);

        private ReplicaView _view = view;

        public ReplicaView View
        {
            get => _view;
            set
            {
                _view = value;
                Facts = new ViewFacts(value);
            }
        }

        public int Slot { get; } = slot;

        /// <summary>RTT from the router's region to this replica's (cached from the matrix).</summary>
        public double RttFromHomeMs { get; private set; }

        /// <summary>Whether the replica is in the router's region.</summary>
        public bool IsHome { get; private set; }

        /// <summary>Whether the replica's region is among the router's nearest (a candidate at all).</summary>
        public bool IsNear { get; private set; } = true;

        /// <summary>Caches the replica's placement relative to the router's home region.</summary>
        public void Place(RttMatrix rtt, int home, bool[] near)
        {
            int region = rtt.IndexOf(View.Region);
            RttFromHomeMs = rtt[home, region];
            IsHome = region == home;
            IsNear = near[region];
        }

        public PendingWork Pending { get; } = new();
    }
}
