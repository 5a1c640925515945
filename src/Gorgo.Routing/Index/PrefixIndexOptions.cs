using Gorgo.Routing.Options;

namespace Gorgo.Routing.Index;

/// <summary>Memory bounds of a <see cref="PrefixIndex"/>.</summary>
public sealed record PrefixIndexOptions
{
    /// <summary>Most blocks remembered per replica (LRU beyond it). 32,768 × 16 tokens ≈ 524k tokens, about one H100's KV cache for an 8B model.</summary>
    public int MaxBlocksPerReplica { get; init; } = 32_768;

    /// <summary>Most replicas the index tracks at once.</summary>
    public int MaxReplicas { get; init; } = 4_096;

    /// <summary>
    /// Which replicas keep their blocks in their own sets behind a filter instead of the shared block map. Updating such
    /// a replica (a summary, a cache event) touches no shared state, but a prompt walk probes its set for every block it
    /// matches, so long prefixes shared by many such replicas cost more. The simulator, a hundred routers in one process
    /// with short chains of coarse blocks, uses <see cref="PrefixOwnSets.Remote"/>. Answers are the same either way.
    /// </summary>
    public PrefixOwnSets OwnSets { get; init; }

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(MaxBlocksPerReplica >= 1, $"MaxBlocksPerReplica must be at least 1 (got {MaxBlocksPerReplica}).")
        .Check(MaxReplicas is >= 1 and <= 1 << 16, $"MaxReplicas must be between 1 and 65536 (got {MaxReplicas}).")
        .Check(Enum.IsDefined(OwnSets), $"OwnSets {(int)OwnSets} is not a known value.")
        .Errors;
}

/// <summary>Which replicas a <see cref="PrefixIndex"/> keeps in their own sets rather than in its shared block map.</summary>
public enum PrefixOwnSets
{
    /// <summary>None: every replica in the shared map (the default: one lookup per prompt block however many replicas match).</summary>
    None,

    /// <summary>Replicas known from gossip summaries, from their first summary on.</summary>
    Summarized,

    /// <summary>Those, and every replica its router places outside the router's own region.</summary>
    Remote,
}
