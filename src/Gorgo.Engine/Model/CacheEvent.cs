namespace Gorgo.Engine.Model;

/// <summary>What happened to a KV block.</summary>
public enum CacheEventKind
{
    /// <summary>A full prompt block was computed and is now cached under its hash.</summary>
    Stored,

    /// <summary>A cached block was evicted.</summary>
    Removed,
}

/// <summary>One change to a replica's prefix cache; sequence numbers are consecutive, so a consumer can detect gaps.</summary>
/// <param name="Sequence">1 for the first event of an engine, then +1 per event.</param>
/// <param name="Kind">Stored or removed.</param>
/// <param name="BlockHash">The block's chained hash (the routing core's <c>BlockHasher</c> hash).</param>
public readonly record struct CacheEvent(long Sequence, CacheEventKind Kind, ulong BlockHash);

/// <summary>Helpers over batches of <see cref="CacheEvent"/>s.</summary>
public static class CacheEvents
{
    /// <summary>Splits a batch into the blocks stored and the blocks removed, each in event order.</summary>
    public static void Split(IReadOnlyList<CacheEvent> events, List<ulong> stored, List<ulong> removed)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(removed);
        for (int i = 0; i < events.Count; i++)
        {
            CacheEvent e = events[i];
            (e.Kind == CacheEventKind.Stored ? stored : removed).Add(e.BlockHash);
        }
    }
}
