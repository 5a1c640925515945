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
    /// Whether a replica known from gossip summaries keeps its blocks in its own set behind a filter instead of the
    /// shared block map (from its first summary on). Merging a summary then touches no shared state, but a prompt walk
    /// probes each such replica's set for every block it matches, so long shared prefixes over many replicas cost more.
    /// The simulator, with a hundred routers in one process and short chains of coarse blocks, turns it on. Answers are
    /// the same either way.
    /// </summary>
    public bool SummarizedInOwnSets { get; init; }

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(MaxBlocksPerReplica >= 1, $"MaxBlocksPerReplica must be at least 1 (got {MaxBlocksPerReplica}).")
        .Check(MaxReplicas is >= 1 and <= 1 << 16, $"MaxReplicas must be between 1 and 65536 (got {MaxReplicas}).")
        .Errors;
}
