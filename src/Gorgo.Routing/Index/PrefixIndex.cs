using System.Buffers;
using System.Numerics;
using Gorgo.Routing.Options;

namespace Gorgo.Routing.Index;

/// <summary>Which block hashes each replica holds, answering "matched prefix length per replica" in one walk of a prompt.</summary>
/// <remarks>
/// A bounded LRU set per replica, plus a map from block hash to the set of replicas holding it (a bitset over replica
/// slots) for one walk of a prompt over all of them. Knowledge comes from routing decisions (approximate), replica cache
/// events (exact) or gossip (summaries). With <see cref="PrefixIndexOptions.OwnSets"/>, a replica known from summaries
/// (or any remote replica) keeps its blocks in its own set only, behind a small filter: a summary replaces most of a replica's blocks
/// at every gossip round, which in the shared map costs a scattered update per block changed for every replica of every
/// digest, while a prompt walk checks such a replica with one look at its filter and, only when that passes, a probe of
/// its set per block it matches. Which layout a replica uses never changes an answer. Not thread-safe: callers
/// serialise access (the <see cref="Router"/> does).
/// </remarks>
public sealed class PrefixIndex
{
    private readonly Dictionary<string, int> _slotOf = new(StringComparer.Ordinal);
    private readonly Stack<int> _freeSlots = new();
    private readonly HashSlotMap _entryOf = new(1024);
    private readonly Stack<int> _freeEntries = new();
    private string?[] _replicaOf = new string?[64];
    private LruSet?[] _lru = new LruSet?[64];
    private LruSet?[] _spare = new LruSet?[64];
    private ulong[]?[] _frozen = new ulong[]?[64]; // per own-set slot replaced whole by a small summary: that summary, hottest first (its LRU set is built on first change)
    private ulong[] _occupied = new ulong[1];
    private ulong[] _ownSet = new ulong[1];
    private byte[]? _filters; // per own-set slot, FilterSize bytes: bits, or counters once counting (allocated with the first own set)
    private ulong[] _counting = new ulong[1];
    private ulong[] _bits = new ulong[1024];
    private int _words = 1;
    private int _entryHighWater;
    private int _slotHighWater;

    /// <summary>
    /// Places in each own-set replica's filter: a block marks one of 4,096, so a prompt's first block passes falsely at
    /// about 2 % of replicas holding 100 blocks and 22 % of those holding 1,024. A filter holds bits (512 bytes) while
    /// its set only grows or is replaced whole, as under gossip summaries; from the first block removed or evicted on, it
    /// holds a counter per place (4,096 bytes), so a block that leaves the set leaves the filter at once. A counter at
    /// 255 stays there (a false positive costs one probe).
    /// </summary>
    private const int FilterSize = 4_096;

    /// <summary>
    /// Largest summary an own set keeps as it came, an array of hashes hottest first, while nothing else changes the set
    /// (see <see cref="ReplaceOwnSet"/>): matching scans it; the set's LRU order is built from it at the first record,
    /// removal, union or summary request, exactly as a replace would have built it.
    /// </summary>
    private const int FreezeLimit = 256;

    /// <summary>Creates an empty index with the given bounds.</summary>
    public PrefixIndex(PrefixIndexOptions? options = null)
    {
        Options = options ?? new PrefixIndexOptions();
        new OptionsErrors().Include(Options.Validate()).ThrowIfAny("prefix index options");
    }

    /// <summary>The bounds in force.</summary>
    public PrefixIndexOptions Options { get; }

    /// <summary>Number of replicas known.</summary>
    public int ReplicaCount => _slotOf.Count;

    /// <summary>Length a span passed to <see cref="Match(ReadOnlySpan{ulong}, Span{int})"/> must have: one entry per slot.</summary>
    public int SlotCapacity => _words * 64;

    /// <summary>Distinct block hashes in the shared map: held by at least one replica kept in it (replicas in their own sets, see <see cref="PrefixIndexOptions.OwnSets"/>, are not counted).</summary>
    public int DistinctBlocks => _entryOf.Count;

    /// <summary>Approximate bytes used by the index's tables.</summary>
    public long EstimatedBytes
    {
        get
        {
            long bytes = _entryOf.EstimatedBytes + (_bits.Length * 8L) + (_filters?.Length ?? 0);
            foreach (LruSet? lru in _lru)
            {
                bytes += lru?.EstimatedBytes ?? 0;
            }

            foreach (ulong[]? frozen in _frozen)
            {
                bytes += (frozen?.Length ?? 0) * 8L;
            }

            return bytes;
        }
    }

    /// <summary>Known replica ids.</summary>
    public IEnumerable<string> Replicas => _slotOf.Keys;

    /// <summary>The slot of a replica, registering it if new. Slots are dense and stable until the replica is removed.</summary>
    /// <param name="replicaId">The replica.</param>
    /// <param name="ownSet">When new, keep its blocks in its own set (see <see cref="PrefixIndexOptions.OwnSets"/>; callers decide which replicas are remote).</param>
    public int Register(string replicaId, bool ownSet = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(replicaId);
        if (_slotOf.TryGetValue(replicaId, out int slot))
        {
            return slot;
        }

        if (_slotOf.Count >= Options.MaxReplicas)
        {
            throw new InvalidOperationException($"The prefix index already tracks its maximum of {Options.MaxReplicas} replicas; cannot add '{replicaId}'.");
        }

        slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotHighWater++;
        if (slot >= SlotCapacity)
        {
            GrowWords(_words * 2);
        }

        if (slot >= _replicaOf.Length)
        {
            Array.Resize(ref _replicaOf, Math.Max(slot + 1, _replicaOf.Length * 2));
            Array.Resize(ref _lru, _replicaOf.Length);
            Array.Resize(ref _spare, _replicaOf.Length);
            Array.Resize(ref _frozen, _replicaOf.Length);
            if (_filters is not null)
            {
                Array.Resize(ref _filters, _replicaOf.Length * FilterSize);
            }
        }

        _slotOf[replicaId] = slot;
        _replicaOf[slot] = replicaId;
        _lru[slot] = new LruSet(Options.MaxBlocksPerReplica);
        _occupied[slot >> 6] |= 1UL << (slot & 63);
        SetOwnSet(slot, ownSet);
        return slot;
    }

    /// <summary>The slot of a known replica, or -1.</summary>
    public int SlotOf(string replicaId) => _slotOf.TryGetValue(replicaId, out int slot) ? slot : -1;

    /// <summary>The replica in a slot, or null when the slot is free.</summary>
    public string? ReplicaAt(int slot) => (uint)slot < (uint)_replicaOf.Length ? _replicaOf[slot] : null;

    /// <summary>Blocks held by a replica (0 when unknown).</summary>
    public int BlockCount(string replicaId) => _slotOf.TryGetValue(replicaId, out int slot) ? SetOf(slot).Count : 0;

    /// <summary>Whether the index believes <paramref name="replicaId"/> holds block <paramref name="hash"/>.</summary>
    public bool Contains(string replicaId, ulong hash) => _slotOf.TryGetValue(replicaId, out int slot) && Holds(slot, hash);

    /// <summary>Records that a replica holds a prompt's blocks (e.g. it was just routed there).</summary>
    /// <remarks>Blocks are touched last to first, so the prompt's head is the most recently used and is evicted last, as engines evict a chain from its tail.</remarks>
    /// <returns>Number of blocks evicted from the replica to stay within its bound.</returns>
    public int Record(string replicaId, ReadOnlySpan<ulong> hashes) => Record(Register(replicaId), hashes);

    /// <summary>As <see cref="Record(string, ReadOnlySpan{ulong})"/> for a known slot.</summary>
    /// <param name="slot">The replica's slot.</param>
    /// <param name="hashes">The prompt's chained block hashes.</param>
    /// <param name="heldPrefix">
    /// Leading blocks the replica is already known to hold (e.g. its matched length from <see cref="Match(ReadOnlySpan{ulong}, Span{int})"/>). Every
    /// record that touched the deepest of them also touched the rest just after it (a block's hash implies its prefix),
    /// so when the deepest is still among the most recent the rest are too, and only that one is probed.
    /// </param>
    public int Record(int slot, ReadOnlySpan<ulong> hashes, int heldPrefix = 0)
    {
        LruSet lru = SetOf(slot);
        heldPrefix = Math.Clamp(heldPrefix, 0, hashes.Length);
        int evictions = 0;
        for (int i = hashes.Length - 1; i >= heldPrefix; i--)
        {
            Touch(lru, slot, hashes[i], ref evictions);
        }

        if (heldPrefix > 0 && Touch(lru, slot, hashes[heldPrefix - 1], ref evictions) != TouchResult.AlreadyRecent)
        {
            for (int i = heldPrefix - 2; i >= 0; i--)
            {
                Touch(lru, slot, hashes[i], ref evictions);
            }
        }

        return evictions;
    }

    /// <summary>Forgets blocks a replica reported removed; returns how many were known.</summary>
    public int Remove(string replicaId, ReadOnlySpan<ulong> hashes) =>
        _slotOf.TryGetValue(replicaId, out int slot) ? Remove(slot, hashes) : 0;

    /// <summary>As <see cref="Remove(string, ReadOnlySpan{ulong})"/> for a known slot.</summary>
    public int Remove(int slot, ReadOnlySpan<ulong> hashes)
    {
        LruSet lru = SetOf(slot);
        bool inMap = !HasOwnSet(slot);
        int removed = 0;
        foreach (ulong hash in hashes)
        {
            if (lru.Remove(hash))
            {
                if (inMap)
                {
                    ClearBit(hash, slot);
                }
                else
                {
                    Uncount(slot, hash);
                }

                removed++;
            }
        }

        return removed;
    }

    /// <summary>Forgets a replica and all its blocks; returns false when it was unknown.</summary>
    public bool RemoveReplica(string replicaId)
    {
        if (!_slotOf.Remove(replicaId, out int slot))
        {
            return false;
        }

        if (!HasOwnSet(slot))
        {
            ClearBlocks(slot);
        }

        SetOwnSet(slot, false);
        _lru[slot] = null;
        _spare[slot] = null;
        _frozen[slot] = null;
        _replicaOf[slot] = null;
        _occupied[slot >> 6] &= ~(1UL << (slot & 63));
        _freeSlots.Push(slot);
        return true;
    }

    /// <summary>
    /// Matched prefix length, in blocks, of <paramref name="prompt"/> for every slot, in one walk of the chain: the walk
    /// keeps the set of replicas holding every block so far and stops when it is empty.
    /// </summary>
    /// <param name="prompt">The prompt's chained block hashes.</param>
    /// <param name="matchedBlocksBySlot">Receives, per slot, the number of leading blocks held; length at least <see cref="SlotCapacity"/>.</param>
    /// <returns>The longest match over all replicas, in blocks.</returns>
    public int Match(ReadOnlySpan<ulong> prompt, Span<int> matchedBlocksBySlot) => Match(prompt, matchedBlocksBySlot, default);

    /// <summary>
    /// As <see cref="Match(ReadOnlySpan{ulong}, Span{int})"/> for the slots set in <paramref name="onlySlots"/> (bit
    /// <c>s % 64</c> of word <c>s / 64</c> for slot <c>s</c>; empty: every slot): the walk stops as soon as none of them
    /// matches, and only their entries of <paramref name="matchedBlocksBySlot"/> are written.
    /// </summary>
    /// <returns>The longest match over those replicas, in blocks.</returns>
    public int Match(ReadOnlySpan<ulong> prompt, Span<int> matchedBlocksBySlot, ReadOnlySpan<ulong> onlySlots)
    {
        int words = _words;
        if (matchedBlocksBySlot.Length < words * 64)
        {
            throw new ArgumentException($"The span needs {words * 64} entries (SlotCapacity).", nameof(matchedBlocksBySlot));
        }

        if (onlySlots.IsEmpty)
        {
            matchedBlocksBySlot[..(words * 64)].Clear();
        }
        else
        {
            for (int w = 0; w < Math.Min(words, onlySlots.Length); w++)
            {
                for (ulong bits = onlySlots[w]; bits != 0; bits &= bits - 1)
                {
                    matchedBlocksBySlot[(w << 6) + BitOperations.TrailingZeroCount(bits)] = 0;
                }
            }
        }

        int longest = MatchInMap(prompt, matchedBlocksBySlot, words, onlySlots);
        return Math.Max(longest, MatchOwnSets(prompt, matchedBlocksBySlot, words, onlySlots));
    }

    /// <summary>Word <paramref name="w"/> of a slot mask (every slot when the mask is empty, none beyond its end).</summary>
    private static ulong MaskWord(ReadOnlySpan<ulong> onlySlots, int w) => onlySlots.IsEmpty ? ulong.MaxValue : w < onlySlots.Length ? onlySlots[w] : 0;

    /// <summary>The walk over the shared map, for the replicas kept in it; returns their longest match.</summary>
    private int MatchInMap(ReadOnlySpan<ulong> prompt, Span<int> matchedBlocksBySlot, int words, ReadOnlySpan<ulong> onlySlots)
    {
        ulong[]? rented = null;
        Span<ulong> active = words <= 64 ? stackalloc ulong[64] : (rented = ArrayPool<ulong>.Shared.Rent(words));
        active = active[..words];
        ulong anyActive = 0;
        for (int w = 0; w < words; w++)
        {
            active[w] = _occupied[w] & ~_ownSet[w] & MaskWord(onlySlots, w);
            anyActive |= active[w];
        }

        try
        {
            if (anyActive == 0)
            {
                return 0;
            }

            ulong[] bits = _bits;
            int i = 0;
            for (; i < prompt.Length; i++)
            {
                if (!_entryOf.TryGetValue(prompt[i], out int entry))
                {
                    break;
                }

                int offset = entry * words;
                ulong any = 0;
                for (int w = 0; w < words; w++)
                {
                    ulong before = active[w];
                    ulong after = before & bits[offset + w];
                    ulong dropped = before & ~after;
                    while (dropped != 0)
                    {
                        matchedBlocksBySlot[(w << 6) + BitOperations.TrailingZeroCount(dropped)] = i;
                        dropped &= dropped - 1;
                    }

                    active[w] = after;
                    any |= after;
                }

                if (any == 0)
                {
                    return i;
                }
            }

            for (int w = 0; w < words; w++)
            {
                ulong remaining = active[w];
                while (remaining != 0)
                {
                    matchedBlocksBySlot[(w << 6) + BitOperations.TrailingZeroCount(remaining)] = i;
                    remaining &= remaining - 1;
                }
            }

            return i;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<ulong>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The replicas with their own sets: those whose filter admits the prompt's first block are probed; returns their longest match.</summary>
    private int MatchOwnSets(ReadOnlySpan<ulong> prompt, Span<int> matchedBlocksBySlot, int words, ReadOnlySpan<ulong> onlySlots)
    {
        if (prompt.IsEmpty || _filters is null)
        {
            return 0;
        }

        int place = FilterPlace(prompt[0]);
        int longest = 0;
        for (int w = 0; w < words; w++)
        {
            ulong own = _ownSet[w] & MaskWord(onlySlots, w);
            while (own != 0)
            {
                int slot = (w << 6) + BitOperations.TrailingZeroCount(own);
                own &= own - 1;
                if (!Admits(slot, place))
                {
                    continue;
                }

                int n = 0;
                if (_frozen[slot] is { } frozen)
                {
                    while (n < prompt.Length && frozen.AsSpan().Contains(prompt[n]))
                    {
                        n++;
                    }
                }
                else
                {
                    LruSet lru = _lru[slot]!;
                    while (n < prompt.Length && lru.Contains(prompt[n]))
                    {
                        n++;
                    }
                }

                matchedBlocksBySlot[slot] = n;
                longest = Math.Max(longest, n);
            }
        }

        return longest;
    }

    /// <summary>Matched prefix length, in blocks, of <paramref name="prompt"/> on one replica (0 when unknown).</summary>
    public int MatchedBlocks(string replicaId, ReadOnlySpan<ulong> prompt)
    {
        if (!_slotOf.TryGetValue(replicaId, out int slot))
        {
            return 0;
        }

        int i = 0;
        while (i < prompt.Length && Holds(slot, prompt[i]))
        {
            i++;
        }

        return i;
    }

    /// <summary>The hottest <paramref name="maxBlocks"/> blocks of a replica, hottest first (empty when unknown).</summary>
    public PrefixSummary Summarize(string replicaId, int maxBlocks = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBlocks);
        if (!_slotOf.TryGetValue(replicaId, out int slot))
        {
            return new PrefixSummary(replicaId, []);
        }

        var hashes = new ulong[Math.Min(maxBlocks, SetOf(slot).Count)];
        Summarize(replicaId, hashes);
        return new PrefixSummary(replicaId, hashes);
    }

    /// <summary>Copies a replica's hottest blocks, most recent first, into <paramref name="destination"/> (as many as fit); returns how many.</summary>
    public int Summarize(string replicaId, Span<ulong> destination)
    {
        if (!_slotOf.TryGetValue(replicaId, out int slot))
        {
            return 0;
        }

        LruSet lru = SetOf(slot);
        int count = Math.Min(destination.Length, lru.Count);
        lru.CopyMostRecentFirst(destination[..count]);
        return count;
    }

    /// <summary>A summary of every replica, each bounded to its <paramref name="maxBlocksPerReplica"/> hottest blocks.</summary>
    public IReadOnlyList<PrefixSummary> Snapshot(int maxBlocksPerReplica = int.MaxValue) =>
        _slotOf.Keys.Order(StringComparer.Ordinal).Select(id => Summarize(id, maxBlocksPerReplica)).ToArray();

    /// <summary>Merges a summary (from a snapshot, a replica report or gossip) into the index.</summary>
    public void Apply(PrefixSummary summary, PrefixMergeMode mode)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(summary.Hashes);
        int slot = Register(summary.ReplicaId);
        if (Options.OwnSets != PrefixOwnSets.None && !HasOwnSet(slot))
        {
            MoveToOwnSet(slot);
        }

        if (mode == PrefixMergeMode.Replace)
        {
            if (HasOwnSet(slot))
            {
                ReplaceOwnSet(slot, summary.Hashes);
            }
            else
            {
                ReplaceInMap(slot, summary.Hashes);
            }

            return;
        }

        LruSet lru = SetOf(slot);

        // Hottest first in the summary: touch coldest first so the hottest ends most recent.
        ReadOnlySpan<ulong> hashes = summary.Hashes;
        int evictions = 0;
        for (int i = hashes.Length - 1; i >= 0; i--)
        {
            Touch(lru, slot, hashes[i], ref evictions);
        }
    }

    private TouchResult Touch(LruSet lru, int slot, ulong hash, ref int evictions)
    {
        TouchResult result = lru.Touch(hash, out bool evicted, out ulong evictedKey);
        bool inMap = !HasOwnSet(slot);
        if (result == TouchResult.Added)
        {
            if (inMap)
            {
                SetBit(hash, slot);
            }
            else
            {
                Count(slot, hash);
            }
        }

        if (evicted)
        {
            if (inMap)
            {
                ClearBit(evictedKey, slot);
            }
            else
            {
                Uncount(slot, evictedKey);
            }

            evictions++;
        }

        return result;
    }

    /// <summary>
    /// Makes <paramref name="hashes"/> (hottest first) the replica's whole set, in the shared map. Successive summaries of
    /// one replica mostly overlap, so only the difference touches the map: blocks dropped lose the replica's bit, blocks
    /// new gain it, and the rest only take their new place in the replica's LRU order.
    /// </summary>
    private void ReplaceInMap(int slot, ReadOnlySpan<ulong> hashes)
    {
        if (!TakeSpareFor(slot, hashes, out LruSet old, out LruSet lru))
        {
            return;
        }

        for (int i = hashes.Length - 1; i >= 0; i--)
        {
            ulong hash = hashes[i];
            TouchResult result = lru.Touch(hash, out bool evicted, out ulong evictedKey);
            if (result == TouchResult.Added && !old.Contains(hash))
            {
                SetBit(hash, slot);
            }

            if (evicted && !old.Contains(evictedKey))
            {
                ClearBit(evictedKey, slot);
            }
        }

        ulong[] dropped = ArrayPool<ulong>.Shared.Rent(Math.Max(old.Count, 1));
        try
        {
            int n = old.CopyMostRecentFirst(dropped);
            for (int i = n - 1; i >= 0; i--)
            {
                if (!lru.Contains(dropped[i]))
                {
                    ClearBit(dropped[i], slot);
                }
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(dropped);
        }

        _lru[slot] = lru;
        _spare[slot] = old;
    }

    /// <summary>Makes <paramref name="hashes"/> (hottest first) the whole own set of a replica known from summaries; its filter follows.</summary>
    /// <remarks>
    /// Gossip replaces a remote replica's set at every round, and most sets are only ever replaced and matched: while its
    /// filter holds bits, a summary of up to <see cref="FreezeLimit"/> blocks is kept as it came (the filter marks its
    /// blocks) instead of being built into an LRU set that the next round would discard. Every answer is the same.
    /// </remarks>
    private void ReplaceOwnSet(int slot, ReadOnlySpan<ulong> hashes)
    {
        ulong[]? frozen = _frozen[slot];
        if (frozen is not null && frozen.AsSpan().SequenceEqual(hashes))
        {
            return; // the replica's summary has not changed since the last one
        }

        if (!IsCounting(slot) && hashes.Length <= Math.Min(FreezeLimit, Options.MaxBlocksPerReplica))
        {
            if (frozen is null && _lru[slot]!.Count == hashes.Length && SameOrder(_lru[slot]!, hashes))
            {
                return; // the set is this summary already
            }

            _filters.AsSpan(slot * FilterSize, FilterSize / 8).Clear();
            foreach (ulong hash in hashes)
            {
                Count(slot, hash);
            }

            frozen = frozen?.Length == hashes.Length ? frozen : new ulong[hashes.Length];
            hashes.CopyTo(frozen);
            _frozen[slot] = frozen;
            return;
        }

        if (!TakeSpareFor(slot, hashes, out LruSet old, out LruSet lru))
        {
            return;
        }

        if (IsCounting(slot))
        {
            CountAll(slot, old, -1);
        }
        else
        {
            _filters.AsSpan(slot * FilterSize, FilterSize / 8).Clear();
        }

        for (int i = hashes.Length - 1; i >= 0; i--)
        {
            lru.Touch(hashes[i], out _, out _); // evicts only when a summary exceeds the bound
        }

        CountAll(slot, lru, +1);
        _lru[slot] = lru;
        _spare[slot] = old;
    }

    /// <summary>Whether a replica's set holds a block (its frozen summary scanned, if it has one).</summary>
    private bool Holds(int slot, ulong hash) => _frozen[slot] is { } frozen ? frozen.AsSpan().Contains(hash) : _lru[slot]!.Contains(hash);

    /// <summary>The replica's LRU set, built first from its frozen summary if it has one (as the replace that froze it would have built it).</summary>
    private LruSet SetOf(int slot)
    {
        LruSet lru = LruAt(slot);
        if (_frozen[slot] is { } frozen)
        {
            lru.Reset(Math.Min(frozen.Length, Options.MaxBlocksPerReplica));
            for (int i = frozen.Length - 1; i >= 0; i--)
            {
                lru.Touch(frozen[i], out _, out _);
            }

            _frozen[slot] = null;
        }

        return lru;
    }

    /// <summary>
    /// The replica's current set and an empty one to fill with <paramref name="hashes"/>: the set replaced last time,
    /// reused (gossip replaces every remote replica's set each round). False when the summary is the set already.
    /// </summary>
    private bool TakeSpareFor(int slot, ReadOnlySpan<ulong> hashes, out LruSet old, out LruSet lru)
    {
        old = SetOf(slot);
        if (old.Count == hashes.Length && hashes.Length <= Options.MaxBlocksPerReplica && SameOrder(old, hashes))
        {
            lru = old;
            return false; // the replica's summary has not changed since the last one
        }

        int expected = Math.Min(hashes.Length, Options.MaxBlocksPerReplica);
        lru = _spare[slot] ?? new LruSet(Options.MaxBlocksPerReplica, expected);
        lru.Reset(expected);
        return true;
    }

    /// <summary>Whether <paramref name="lru"/> holds exactly <paramref name="hashes"/>, most recent first.</summary>
    private static bool SameOrder(LruSet lru, ReadOnlySpan<ulong> hashes)
    {
        ulong[] buffer = ArrayPool<ulong>.Shared.Rent(hashes.Length);
        try
        {
            int n = lru.CopyMostRecentFirst(buffer.AsSpan(0, hashes.Length));
            return n == hashes.Length && buffer.AsSpan(0, n).SequenceEqual(hashes);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(buffer);
        }
    }

    /// <summary>Clears the replica's bit from every block it holds (its LRU set is left for the caller to drop or replace).</summary>
    private void ClearBlocks(int slot)
    {
        foreach (ulong hash in _lru[slot]!.LeastRecentFirst())
        {
            ClearBit(hash, slot);
        }

    }

    private bool HasOwnSet(int slot) => (_ownSet[slot >> 6] & (1UL << (slot & 63))) != 0;

    private void SetOwnSet(int slot, bool own)
    {
        if (own)
        {
            _filters ??= new byte[_replicaOf.Length * FilterSize];
            _ownSet[slot >> 6] |= 1UL << (slot & 63);
        }
        else if (HasOwnSet(slot))
        {
            _ownSet[slot >> 6] &= ~(1UL << (slot & 63));
            _counting[slot >> 6] &= ~(1UL << (slot & 63));
            _filters!.AsSpan(slot * FilterSize, FilterSize).Clear();
        }
    }

    /// <summary>Takes a replica's blocks out of the shared map into its own set (from its first summary on), its filter counting them.</summary>
    private void MoveToOwnSet(int slot)
    {
        ClearBlocks(slot);
        SetOwnSet(slot, true);
        CountAll(slot, _lru[slot]!, +1);
    }

    /// <summary>Adds (+1) or takes (-1) every block of <paramref name="set"/> to or from the slot's filter.</summary>
    private void CountAll(int slot, LruSet set, int delta)
    {
        ulong[] blocks = ArrayPool<ulong>.Shared.Rent(Math.Max(set.Count, 1));
        try
        {
            int n = set.CopyMostRecentFirst(blocks);
            for (int i = 0; i < n; i++)
            {
                if (delta > 0)
                {
                    Count(slot, blocks[i]);
                }
                else
                {
                    Uncount(slot, blocks[i]);
                }
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(blocks);
        }
    }

    /// <summary>A block's place in a filter: its hash remixed (trace block ids are not random in every bit).</summary>
    private static int FilterPlace(ulong hash) => (int)((hash * 0xD6E8FEB86659FD93UL) >> 52);

    private bool IsCounting(int slot) => (_counting[slot >> 6] & (1UL << (slot & 63))) != 0;

    private bool Admits(int slot, int place)
    {
        int at = slot * FilterSize;
        return IsCounting(slot) ? _filters![at + place] != 0 : (_filters![at + (place >> 3)] & (1 << (place & 7))) != 0;
    }

    private void Count(int slot, ulong hash)
    {
        int place = FilterPlace(hash);
        int at = slot * FilterSize;
        if (!IsCounting(slot))
        {
            _filters![at + (place >> 3)] |= (byte)(1 << (place & 7));
            return;
        }

        ref byte counter = ref _filters![at + place];
        if (counter < byte.MaxValue)
        {
            counter++;
        }
    }

    /// <summary>Takes a block that has left the slot's set out of its filter (the first one turns the filter to counters).</summary>
    private void Uncount(int slot, ulong hash)
    {
        if (!IsCounting(slot))
        {
            // Bits cannot forget one block: count the set as it is now, without the block, from here on.
            _counting[slot >> 6] |= 1UL << (slot & 63);
            _filters.AsSpan(slot * FilterSize, FilterSize).Clear();
            CountAll(slot, SetOf(slot), +1);
            return;
        }

        ref byte counter = ref _filters![(slot * FilterSize) + FilterPlace(hash)];
        if (counter is > 0 and < byte.MaxValue)
        {
            counter--;
        }
    }

    private LruSet LruAt(int slot) =>
        (uint)slot < (uint)_lru.Length && _lru[slot] is { } lru
            ? lru
            : throw new ArgumentOutOfRangeException(nameof(slot), slot, "No replica is registered in this slot.");

    private void SetBit(ulong hash, int slot)
    {
        if (!_entryOf.TryGetValue(hash, out int entry))
        {
            entry = _freeEntries.Count > 0 ? _freeEntries.Pop() : _entryHighWater++;
            long needed = (long)(entry + 1) * _words;
            if (needed > _bits.Length)
            {
                Array.Resize(ref _bits, (int)Math.Max(needed, _bits.Length * 2L));
            }

            _bits.AsSpan(entry * _words, _words).Clear();
            _entryOf.Set(hash, entry);
        }

        _bits[(entry * _words) + (slot >> 6)] |= 1UL << (slot & 63);
    }

    private void ClearBit(ulong hash, int slot)
    {
        if (!_entryOf.TryGetValue(hash, out int entry))
        {
            return;
        }

        int offset = entry * _words;
        _bits[offset + (slot >> 6)] &= ~(1UL << (slot & 63));
        for (int w = 0; w < _words; w++)
        {
            if (_bits[offset + w] != 0)
            {
                return;
            }
        }

        _entryOf.Remove(hash);
        _freeEntries.Push(entry);
    }

    private void GrowWords(int words)
    {
        var bits = new ulong[Math.Max(_entryHighWater, 1024) * words];
        for (int e = 0; e < _entryHighWater; e++)
        {
            _bits.AsSpan(e * _words, _words).CopyTo(bits.AsSpan(e * words, _words));
        }

        Array.Resize(ref _occupied, words);
        Array.Resize(ref _ownSet, words);
        Array.Resize(ref _counting, words);
        _bits = bits;
        _words = words;
    }
}
