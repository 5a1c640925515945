namespace Gorgo.Engine.Model;

/// <summary>
/// A replica's KV cache at block granularity: full prompt blocks are cached under their chained hashes and shared by
/// every request whose prompt starts the same way; blocks no running request references stay cached and are evicted
/// least recently used first when room is needed. Not thread-safe.
/// </summary>
/// <remarks>
/// Capacity is counted in blocks. A request reserves, when admitted, every block it will need that is not already
/// cached (its uncached prompt blocks, its partial last prompt block and its output), so a running request never
/// runs out of room. As prefill completes a full prompt block, one reservation turns into a cached block.
/// </remarks>
public sealed class KvBlockCache
{
    private readonly Dictionary<ulong, Block> _blocks = [];
    private readonly LinkedList<ulong> _evictable = new();
    private readonly List<CacheEvent> _events = [];
    private long _sequence;

    /// <summary>Creates an empty cache of <paramref name="capacityBlocks"/> blocks.</summary>
    public KvBlockCache(int capacityBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBlocks, 1);
        Capacity = capacityBlocks;
    }

    /// <summary>Capacity in blocks.</summary>
    public int Capacity { get; }

    /// <summary>Blocks cached under a hash (referenced or not).</summary>
    public int CachedBlocks => _blocks.Count;

    /// <summary>Cached blocks referenced by at least one running request.</summary>
    public int ReferencedBlocks { get; private set; }

    /// <summary>Blocks reserved by running requests and not (yet) cached under a hash.</summary>
    public int ReservedBlocks { get; private set; }

    /// <summary>Blocks in use by running requests (what vLLM reports as KV-cache usage).</summary>
    public int UsedBlocks => ReferencedBlocks + ReservedBlocks;

    /// <summary>Fraction of capacity in use by running requests, 0 to 1.</summary>
    public double Utilization => (double)UsedBlocks / Capacity;

    /// <summary>Blocks neither cached nor reserved.</summary>
    public int FreeBlocks => Capacity - CachedBlocks - ReservedBlocks;

    /// <summary>Sequence number of the last event (0 before any).</summary>
    public long LastEventSequence => _sequence;

    /// <summary>Whether a block is cached.</summary>
    public bool Contains(ulong hash) => _blocks.ContainsKey(hash);

    /// <summary>Number of leading blocks of a prompt that are cached.</summary>
    public int MatchPrefix(ReadOnlySpan<ulong> hashes)
    {
        int i = 0;
        while (i < hashes.Length && _blocks.ContainsKey(hashes[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>References the cached blocks of a prompt's matched prefix (they stop being evictable).</summary>
    public void Acquire(ReadOnlySpan<ulong> cachedPrefix)
    {
        foreach (ulong hash in cachedPrefix)
        {
            Block block = _blocks[hash];
            if (block.RefCount++ == 0)
            {
                _evictable.Remove(block.Node);
                ReferencedBlocks++;
            }
        }
    }

    /// <summary>Reserves <paramref name="blocks"/> blocks, evicting unreferenced cached blocks as needed; false (nothing changed) when they do not fit.</summary>
    public bool TryReserve(int blocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        if (blocks > FreeBlocks + _evictable.Count)
        {
            return false;
        }

        while (FreeBlocks < blocks)
        {
            Evict();
        }

        ReservedBlocks += blocks;
        return true;
    }

    /// <summary>Turns one reservation into the cached block <paramref name="hash"/> (or shares it when another request cached it first).</summary>
    public void Store(ulong hash)
    {
        if (ReservedBlocks == 0)
        {
            throw new InvalidOperationException("Store needs a reserved block.");
        }

        ReservedBlocks--;
        if (_blocks.TryGetValue(hash, out Block? existing))
        {
            if (existing.RefCount++ == 0)
            {
                _evictable.Remove(existing.Node);
                ReferencedBlocks++;
            }

            return;
        }

        var block = new Block(new LinkedListNode<ulong>(hash)) { RefCount = 1 };
        _blocks.Add(hash, block);
        ReferencedBlocks++;
        Emit(CacheEventKind.Stored, hash);
    }

    /// <summary>Drops a request's references (its cached blocks, last block first) and its remaining reservations.</summary>
    /// <remarks>Releasing last block first makes a prompt's head the most recently used, so a chain is evicted from its tail.</remarks>
    public void Release(ReadOnlySpan<ulong> referenced, int reservations)
    {
        for (int i = referenced.Length - 1; i >= 0; i--)
        {
            Block block = _blocks[referenced[i]];
            if (--block.RefCount == 0)
            {
                _evictable.AddLast(block.Node);
                ReferencedBlocks--;
            }
        }

        ReservedBlocks -= reservations;
        if (ReservedBlocks < 0)
        {
            throw new InvalidOperationException("More reservations released than were held.");
        }
    }

    /// <summary>Moves the events since the last drain into <paramref name="destination"/>.</summary>
    public void DrainEvents(List<CacheEvent> destination)
    {
        destination.AddRange(_events);
        _events.Clear();
    }

    private void Evict()
    {
        LinkedListNode<ulong> oldest = _evictable.First ?? throw new InvalidOperationException("Nothing to evict.");
        _evictable.RemoveFirst();
        _blocks.Remove(oldest.Value);
        Emit(CacheEventKind.Removed, oldest.Value);
    }

    /// <summary>Whether cache events are kept for <see cref="DrainEvents"/> (turn off when nobody drains them).</summary>
    public bool RecordEvents { get; set; } = true;

    private void Emit(CacheEventKind kind, ulong hash)
    {
        ++_sequence;
        if (RecordEvents)
        {
            _events.Add(new CacheEvent(_sequence, kind, hash));
        }
    }

    private sealed class Block(LinkedListNode<ulong> node)
    {
        public LinkedListNode<ulong> Node { get; } = node;

        public int RefCount { get; set; }
    }
}
