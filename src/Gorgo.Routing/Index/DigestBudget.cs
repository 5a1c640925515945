namespace Gorgo.Routing.Index;

/// <summary>
/// How a region's gossip digest spends its byte budget: a fixed header, a fixed record per replica (load, limits, ids),
/// and 8 bytes per hot block hash, shared equally by the region's replicas. The mesh sizes its digests with it and the
/// simulator counts gossip bytes with it, so both agree on what a budget buys.
/// </summary>
public static class DigestBudget
{
    /// <summary>Bytes allowed for a digest's header (origin, incarnation, version, time).</summary>
    public const int HeaderBytes = 64;

    /// <summary>Bytes allowed for one replica's record besides its hashes.</summary>
    public const int ReplicaBytes = 128;

    /// <summary>Bytes of one block hash.</summary>
    public const int HashBytes = sizeof(ulong);

    /// <summary>Hot block hashes each of <paramref name="replicas"/> replicas may carry within <paramref name="budgetBytes"/>.</summary>
    public static int HashesPerReplica(int budgetBytes, int replicas) =>
        Math.Max(0, (budgetBytes - HeaderBytes - (replicas * ReplicaBytes)) / HashBytes / Math.Max(1, replicas));

    /// <summary>The budgeted size of a digest of <paramref name="replicas"/> replicas carrying <paramref name="hashes"/> hashes in all.</summary>
    public static long Bytes(int replicas, long hashes) => HeaderBytes + ((long)replicas * ReplicaBytes) + (hashes * HashBytes);
}
