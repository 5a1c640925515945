using Gorgo.Routing.Cost;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;

namespace Gorgo.Routing;

/// <summary>Everything a <see cref="Router"/> needs to be configured with; validated when the router is built.</summary>
public sealed record RouterOptions
{
    /// <summary>Upper bound of <see cref="PendingTimeoutMs"/>: one day.</summary>
    public const double MaxPendingTimeoutMs = 86_400_000;

    /// <summary>The region this router decides in (its "home"); must be in the RTT matrix.</summary>
    public required string Region { get; init; }

    /// <summary>Tokens per hashed block; prompts must be hashed with the same size.</summary>
    public int BlockSize { get; init; } = BlockHasher.DefaultBlockSize;

    /// <summary>The policy and its settings.</summary>
    public PolicyOptions Policy { get; init; } = new();

    /// <summary>The cost model's parameters.</summary>
    public CostModelOptions Cost { get; init; } = new();

    /// <summary>The prefix index's bounds.</summary>
    public PrefixIndexOptions Index { get; init; } = new();

    /// <summary>Replica state older than this is not trusted: the replica is left out of decisions.</summary>
    public double MaxStateAgeMs { get; init; } = 15_000;

    /// <summary>A request routed but never reflected in a load report stops counting against its replica after this long.</summary>
    public double PendingTimeoutMs { get; init; } = 30_000;

    /// <summary>
    /// Whether requests just routed count against their replica until a load report reflects them. Turn off when the
    /// caller keeps the replicas' views exact itself (a proxy that sees every request).
    /// </summary>
    public bool TrackPendingWork { get; init; } = true;

    /// <summary>
    /// Whether requests other routers say they sent to a replica (mesh gossip carries each node's pending requests)
    /// count against it too until a load report reflects them, so that routers in several regions do not all fill the
    /// same idle replica at once.
    /// </summary>
    public bool CountPeerPendingWork { get; init; } = true;

    /// <summary>
    /// Only replicas in this many regions nearest the router's own (by RTT, its own included) are candidates; 0 (the
    /// default) considers every region. Large fleets use it to bound decision cost: a replica an ocean away rarely wins.
    /// </summary>
    public int NearestRegions { get; init; }

    /// <summary>Whether a routed prompt's blocks are recorded as cached on the chosen replica (approximate cache view).</summary>
    public bool LearnFromDecisions { get; init; } = true;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(!string.IsNullOrWhiteSpace(Region), "Region is required.")
        .Check(BlockSize is >= 1 and <= BlockHasher.MaxBlockSize, $"BlockSize must be between 1 and {BlockHasher.MaxBlockSize} (got {BlockSize}).")
        .Check(Policy is not null && Cost is not null && Index is not null, "Policy, Cost and Index options are required.")
        .Include(Policy?.Validate() ?? [])
        .Include(Cost?.Validate() ?? [])
        .Include(Index?.Validate() ?? [])
        .Check(NearestRegions >= 0, $"NearestRegions cannot be negative (got {NearestRegions}).")
        .Check(double.IsFinite(MaxStateAgeMs) && MaxStateAgeMs > 0, $"MaxStateAgeMs must be a positive number (got {MaxStateAgeMs}).")
        .Check(double.IsFinite(PendingTimeoutMs) && PendingTimeoutMs is > 0 and <= MaxPendingTimeoutMs, $"PendingTimeoutMs must be between 0 and {MaxPendingTimeoutMs} (one day; got {PendingTimeoutMs}).")
        .Errors;
}
