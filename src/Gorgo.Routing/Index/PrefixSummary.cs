namespace Gorgo.Routing.Index;

/// <summary>A replica's cached block hashes, hottest (most recently used) first; the unit of index snapshots and gossip.</summary>
public sealed record PrefixSummary(string ReplicaId, ulong[] Hashes);

/// <summary>How <see cref="PrefixIndex.Apply"/> combines a summary with what the index already knows of that replica.</summary>
public enum PrefixMergeMode
{
    /// <summary>The summary is the replica's whole state: forget blocks it does not list.</summary>
    Replace,

    /// <summary>Add the summary's blocks to what is known (as if just used, hottest last touched).</summary>
    Union,
}

/// <summary>The names of <see cref="PrefixMergeMode"/> in configuration files (<c>replace</c>, <c>union</c>).</summary>
public static class PrefixMergeModes
{
    /// <summary>The configuration name of a mode.</summary>
    public static string Name(PrefixMergeMode mode) => mode == PrefixMergeMode.Union ? "union" : "replace";

    /// <summary>Parses a configuration name (case-insensitive); false when it is neither <c>replace</c> nor <c>union</c>.</summary>
    public static bool TryParse(string? name, out PrefixMergeMode mode)
    {
        mode = PrefixMergeMode.Replace;
        switch (name?.ToLowerInvariant())
        {
            case "replace":
                return true;
            case "union":
                mode = PrefixMergeMode.Union;
                return true;
            default:
                return false;
        }
    }
}
