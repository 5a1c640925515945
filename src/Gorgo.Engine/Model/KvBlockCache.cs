using Gorgo.Routing.Index;

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
/// Blocks live in one array of entries (hash, reference count, links of the evictable list; one cache line for a
/// block's bookkeeping) indexed through a <see cref="HashSlotMap"/>, so caching, sharing and evicting allocate nothing
/// once the arrays have grown.
/// </remarks>
public sealed class KvBlockCache
{
    private const int None = -1;

    private readonly HashSlotMap _slotOf;
    private readonly List<CacheEvent> _events = [];
    private Block[] _blocks;
    private int[] _free;
    private int _freeCount;
    private int _slotHighWater;
    private int _evictableHead = None;
    private int _evictableTail = None;
    private long _sequence;

    /// <summary>Creates an empty cache of <paramref name="capacityBlocks"/> blocks.</summary>
    public KvBlockCache(int capacityBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBlocks, 1);
        Capacity = capacityBlocks;
        int initial = Math.Min(capacityBlocks, 256);
        _slotOf = new HashSlotMap(initial);
        _blocks = new Block[initial];
        _free = new int[initial];
    }

    /// <summary>Capacity in blocks.</summary>
    public int Capacity { get; }

    /// <summary>Blocks cached under a hash (referenced or not).</summary>
    public int CachedBlocks => _slotOf.Count;

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
    public bool Contains(ulong hash) => _slotOf.TryGetValue(hash, out _);

    /// <summary>The hashes of every cached block, in no order.</summary>
    public ulong[] Hashes() => [.. _slotOf.Keys()];

    /// <summary>Number of leading blocks of a prompt that are cached.</summary>
    public int MatchPrefix(ReadOnlySpan<ulong> hashes)
    {
        int i = 0;
        while (i < hashes.Length && _slotOf.TryGetValue(hashes[i], out _))
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
            Reference(SlotOf(hash));
        }
    }

    /// <summary>Reserves <paramref name="blocks"/> blocks, evicting unreferenced cached blocks as needed; false (nothing changed) when they do not fit.</summary>
    public bool TryReserve(int blocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(blocks);
        if (blocks > FreeBlocks + (CachedBlocks - ReferencedBlocks))
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
        if (_slotOf.TryGetValue(hash, out int existing))
        {
            Reference(existing);
            return;
        }

        int slot = NewSlot();
        _blocks[slot].Hash = hash;
        _blocks[slot].RefCount = 1;
        _slotOf.Set(hash, slot);
        ReferencedBlocks++;
        Emit(CacheEventKind.Stored, hash);
    }

    /// <summary>Drops a request's references (its cached blocks, last block first) and its remaining reservations.</summary>
    /// <remarks>Releasing last block first makes a prompt's head the most recently used, so a chain is evicted from its tail.</remarks>
    public void Release(ReadOnlySpan<ulong> referenced, int reservations)
    {
        for (int i = referenced.Length - 1; i >= 0; i--)
        {
            int slot = SlotOf(referenced[i]);
            if (--_blocks[slot].RefCount == 0)
            {
                Link(slot);
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

    /// <summary>Whether cache events are kept for <see cref="DrainEvents"/> (turn off when nobody drains them).</summary>
    public bool RecordEvents { get; set; } = true;

    private int SlotOf(ulong hash) =>
        _slotOf.TryGetValue(hash, out int slot) ? slot : throw new KeyNotFoundException($"Block {hash:x16} is not cached.");

    /// <summary>Adds a reference to a cached block; its first takes it off the evictable list.</summary>
    private void Reference(int slot)
    {
        if (_blocks[slot].RefCount++ == 0)
        {
            Unlink(slot);
            ReferencedBlocks++;
        }
    }

    private void Evict()
    {
        int oldest = _evictableHead;
        if (oldest == None)
        {
            throw new InvalidOperationException("Nothing to evict.");
        }

        Unlink(oldest);
        ulong hash = _blocks[oldest].Hash;
        _slotOf.Remove(hash);
        _free[_freeCount++] = oldest;
        Emit(CacheEventKind.Removed, hash);
    }

    /// <summary>Appends an unreferenced block to the evictable list (the most recently used end).</summary>
    private void Link(int slot)
    {
        _blocks[slot].Prev = _evictableTail;
        _blocks[slot].Next = None;
        if (_evictableTail == None)
        {
            _evictableHead = slot;
        }
        else
        {
            _blocks[_evictableTail].Next = slot;
        }

        _evictableTail = slot;
    }

    private void Unlink(int slot)
    {
        int prev = _blocks[slot].Prev;
        int next = _blocks[slot].Next;
        if (prev == None)
        {
            _evictableHead = next;
        }
        else
        {
            _blocks[prev].Next = next;
        }

        if (next == None)
        {
            _evictableTail = prev;
        }
        else
        {
            _blocks[next].Prev = prev;
        }
    }

    private int NewSlot()
    {
        if (_freeCount > 0)
        {
            return _free[--_freeCount];
        }

        if (_slotHighWater == _blocks.Length)
        {
            int size = (int)Math.Min(Capacity, _blocks.Length * 2L);
            Array.Resize(ref _blocks, size);
            Array.Resize(ref _free, size);
        }

        return _slotHighWater++;
    }

    private void Emit(CacheEventKind kind, ulong hash)
    {
        ++_sequence;
        if (RecordEvents)
        {
            _events.Add(new CacheEvent(_sequence, kind, hash));
        }
    }

    /// <summary>A cached block's bookkeeping: its hash, the running requests referencing it, and its links in the evictable list while unreferenced.</summary>
    private struct Block
    {
        public ulong Hash;
        public int RefCount;
        public int Prev;
        public int Next;
    }
}
