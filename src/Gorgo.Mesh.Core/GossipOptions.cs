using Gorgo.Routing.Index;
using Gorgo.Routing.Options;

namespace Gorgo.Mesh.Core;

/// <summary>Gossip of digests between regions: the mesh's <c>Gossip</c> section and a scenario's <c>mesh.gossip</c>, one type for both.</summary>
public sealed class GossipOptions
{
    /// <summary>Interval between gossip rounds.</summary>
    public int IntervalMs { get; set; } = 250;

    /// <summary>Peers contacted per round.</summary>
    public int Fanout { get; set; } = 2;

    /// <summary>Largest digest a region sends, in bytes (its prefix summaries are trimmed to fit); with deltas only its churn goes on the wire.</summary>
    public int DigestBudgetBytes { get; set; } = 256 * 1024;

    /// <summary>A region whose newest digest is older than this is forgotten (0: the larger of 5 s and four intervals).</summary>
    public int OriginTimeoutMs { get; set; }

    /// <summary>
    /// How a digest's hot blocks of a replica combine with what the node believes of that replica's cache:
    /// <c>replace</c> (default: they become its whole view, so blocks the node learned from its own routing go when a
    /// digest does not list them) or <c>union</c> (they are added; the node's per-replica bound evicts the least recent).
    /// </summary>
    public PrefixMergeMode SummaryMerge { get; set; } = PrefixMergeMode.Replace;

    /// <summary>
    /// Delta gossip (default on): a digest to a peer carries only what changed since the version of ours the peer last
    /// told us it holds (its load figures in full, the hot blocks added and the keys of those dropped), and relays are
    /// trimmed to what the peer lacks. Off: every digest is whole and every newer digest is relayed.
    /// </summary>
    public bool Deltas { get; set; } = true;

    /// <summary>Anti-entropy: a peer gets a whole digest at least this often even when deltas would do, ms (0: only when needed).</summary>
    public int FullExchangeIntervalMs { get; set; } = 300_000;

    /// <summary>Under delta gossip a node relays a third region's digest to a peer only when the peer's copy is at least this much older than its own, ms (0: the larger of 1 s and two intervals, at most a quarter of the origin timeout, so a peer cut off from a region hears of it through the others before it forgets it).</summary>
    public int RelayAfterMs { get; set; }

    /// <summary>How many of its recent digests a node keeps as bases for deltas; a peer holding an older one gets a whole digest.</summary>
    public int DeltaHistory { get; set; } = 32;

    /// <summary>The origin timeout in force.</summary>
    public int EffectiveOriginTimeoutMs => OriginTimeoutMs > 0 ? OriginTimeoutMs : Math.Max(5_000, 4 * IntervalMs);

    /// <summary>A digest sent to a peer that the peer has not confirmed holding within this time counts as lost, and deltas to it start again from the newest it confirmed (the larger of 1 s and four intervals).</summary>
    public int EffectiveConfirmWithinMs => Math.Max(1_000, 4 * IntervalMs);

    /// <summary>The relay lag in force.</summary>
    public int EffectiveRelayAfterMs => RelayAfterMs > 0 ? RelayAfterMs : Math.Min(Math.Max(1_000, 2 * IntervalMs), EffectiveOriginTimeoutMs / 4);

    /// <summary>A copy (options objects are shared by reference otherwise).</summary>
    public GossipOptions Clone() => (GossipOptions)MemberwiseClone();

    /// <summary>Problems with these options, empty when valid; <paramref name="section"/> names them in messages.</summary>
    public IReadOnlyList<string> Validate(string section = "Gossip") => new OptionsErrors()
        .Check(IntervalMs >= 10, $"{section}.IntervalMs must be at least 10 (got {IntervalMs}).")
        .Check(Fanout >= 1, $"{section}.Fanout must be at least 1 (got {Fanout}).")
        .Check(DigestBudgetBytes >= 256, $"{section}.DigestBudgetBytes must be at least 256 (got {DigestBudgetBytes}).")
        .Check(OriginTimeoutMs == 0 || OriginTimeoutMs > IntervalMs, $"{section}.OriginTimeoutMs must be 0 (automatic) or exceed IntervalMs (got {OriginTimeoutMs}).")
        .Check(Enum.IsDefined(SummaryMerge), EnumNames<PrefixMergeMode>.Expected($"{section}.SummaryMerge", SummaryMerge.ToString()))
        .Check(FullExchangeIntervalMs >= 0, $"{section}.FullExchangeIntervalMs must be 0 (only when needed) or positive (got {FullExchangeIntervalMs}).")
        .Check(RelayAfterMs >= 0, $"{section}.RelayAfterMs must be 0 (two intervals) or positive (got {RelayAfterMs}).")
        .Check(DeltaHistory is >= 1 and <= 4096, $"{section}.DeltaHistory must be between 1 and 4096 (got {DeltaHistory}).")
        .Errors;
}

/// <summary>RTT probes between regions.</summary>
public sealed class ProbeOptions
{
    /// <summary>Interval between probe rounds.</summary>
    public int IntervalMs { get; set; } = 1_000;

    /// <summary>Weight of the newest probe in the EWMA.</summary>
    public double Smoothing { get; set; } = 0.3;

    /// <summary>Consecutive failed calls to a peer (probes, gossip exchanges, sync queries) after which the node routes around its region until a call succeeds.</summary>
    public int UnreachableAfterFailures { get; set; } = 3;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate(string section = "Probes") => new OptionsErrors()
        .Check(IntervalMs >= 10, $"{section}.IntervalMs must be at least 10 (got {IntervalMs}).")
        .Check(double.IsFinite(Smoothing) && Smoothing is > 0 and <= 1, $"{section}.Smoothing must be in (0, 1] (got {Smoothing}).")
        .Check(UnreachableAfterFailures >= 1, $"{section}.UnreachableAfterFailures must be at least 1 (got {UnreachableAfterFailures}).")
        .Errors;
}

/// <summary>What a <see cref="RegionNode"/> needs to know besides its router: its region, consistency setting, gossip and probe settings and how far it looks.</summary>
public sealed record RegionNodeOptions
{
    /// <summary>The node's region.</summary>
    public required string Region { get; init; }

    /// <summary>The node's consistency setting.</summary>
    public ConsistencyMode Consistency { get; init; } = ConsistencyMode.Gossip;

    /// <summary>Gossip settings.</summary>
    public GossipOptions Gossip { get; init; } = new();

    /// <summary>Probe settings (the RTT smoothing).</summary>
    public ProbeOptions Probes { get; init; } = new();

    /// <summary>The node gossips with, keeps state from and routes to this many nearest regions, its own included (0: all).</summary>
    public int NearestRegions { get; init; }

    /// <summary>Where the node's decisions may send a request (null: <c>local-first</c> under <c>local-only</c>, else <c>global</c>).</summary>
    public Gorgo.Routing.RoutingScope? Scope { get; init; }

    /// <summary>
    /// Whether a request another region's node sent to one of this region's replicas is routed again when it arrives,
    /// among this region's replicas, on this node's own view of them (default on): what reached them while the request
    /// was on the WAN is in that view, and not in the sender's.
    /// </summary>
    public bool RebindOnArrival { get; init; } = true;

    /// <summary>
    /// With <see cref="RebindOnArrival"/>, under a policy that ranks by estimated TTFT: a request another node sent here
    /// goes on, once, to another region's replica when this region's best engine time turned out this factor above what
    /// the sender expected and that replica's estimate (the extra leg included) times this factor is below the best home
    /// replica's (default 1.5; 0 turns relaying off). The margins stand for this node's view of other regions being as
    /// old as the sender's, while its view of its own region is fresh: it acts only on a large surprise.
    /// </summary>
    public double RelayFactor { get; init; } = DefaultRelayFactor;

    /// <summary>The default <see cref="RelayFactor"/>.</summary>
    public const double DefaultRelayFactor = 1.5;

    /// <summary>Problems with <paramref name="relayFactor"/> as a <see cref="RelayFactor"/>, empty when valid.</summary>
    public static IReadOnlyList<string> ValidateRelayFactor(double relayFactor, string name = "RelayFactor") => new OptionsErrors()
        .Check(double.IsFinite(relayFactor) && (relayFactor == 0 || relayFactor >= 1), $"{name} must be 0 (off) or at least 1 (got {relayFactor}).")
        .Errors;
}
