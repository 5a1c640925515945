using System.Runtime.CompilerServices;

namespace Gorgo.Routing.Index;

/// <summary>A bounded set of block hashes with least-recently-used eviction; allocation-free once grown.</summary>
/// <remarks>
/// A touch appends the key to a log and records its log position in a <see cref="HashSlotMap"/>; an entry in the log is
/// live only while the map still points at it, which a bit per log position mirrors (so walking the log, to evict or
/// to list the most recent keys, reads bits instead of probing the map). Eviction pops live entries from the log's
/// head (the least recent).
/// Touching is one hash probe plus one sequential write, which keeps refreshing a long chain cheap; a key already in
/// the most recent eighth of the set is not moved (LRU exact up to that window). The log is compacted when full, so it
/// never exceeds twice the capacity. Not thread-safe.
/// </remarks>
internal sealed class LruSet
{
    private readonly HashSlotMap _map;
    private ulong[] _log;
    private ulong[] _live; // bit i: _log[i] is where the map points for that key
    private int _head;
    private int _tail;

    public LruSet(int capacity, int expectedCount = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        int initial = Math.Clamp(expectedCount, 1, capacity);
        _log = new ulong[initial];
        _live = new ulong[LiveWords(initial)];
        _map = new HashSlotMap(initial);
    }

    public int Capacity { get; }

    public int Count => _map.Count;

    /// <summary>Bytes held by this set's arrays (for memory accounting).</summary>
    public long EstimatedBytes => (_log.Length * 8L) + (_live.Length * 8L) + _map.EstimatedBytes;

    public bool Contains(ulong key) => !Unsafe.IsNullRef(ref _map.FindValue(key));

    /// <summary>Marks <paramref name="key"/> most recently used, adding it if absent (evicting the LRU key when full).</summary>
    public TouchResult Touch(ulong key, out bool evicted, out ulong evictedKey)
    {
        evicted = false;
        evictedKey = 0;
        ref int position = ref _map.FindValue(key);
        if (!Unsafe.IsNullRef(ref position))
        {
            // A key already among the most recent eighth of the live keys is not moved: eviction, which takes the
            // oldest key, cannot reach it before most others, and hot prefixes refreshed on every request stay cheap.
            if (position < _tail - Math.Max(1, Count >> 3))
            {
                int newest = Append(key); // may compact the log, moving this key's current entry: read its position after
                ClearLive(position);
                position = newest;
                return TouchResult.Refreshed;
            }

            return TouchResult.AlreadyRecent;
        }

        if (Count == Capacity)
        {
            evictedKey = PopLeastRecent();
            evicted = true;
        }

        int at = Append(key);
        _map.Set(key, at);
        return TouchResult.Added;
    }

    public bool Remove(ulong key)
    {
        if (!_map.Remove(key, out int position))
        {
            return false;
        }

        ClearLive(position);
        return true;
    }

    /// <summary>Empties the set into the state of a new one made for <paramref name="expectedCount"/> keys, reusing its arrays where it can.</summary>
    public void Reset(int expectedCount)
    {
        int initial = Math.Clamp(expectedCount, 1, Capacity);
        if (_log.Length != initial)
        {
            _log = new ulong[initial]; // the log's length decides when it compacts, which the LRU window depends on
            _live = new ulong[LiveWords(initial)];
        }
        else
        {
            Array.Clear(_live);
        }

        _map.Clear();
        _head = 0;
        _tail = 0;
    }

    /// <summary>Copies up to <paramref name="destination"/>.Length keys, most recently used first; returns how many.</summary>
    public int CopyMostRecentFirst(Span<ulong> destination)
    {
        int n = 0;
        for (int i = _tail - 1; i >= _head && n < destination.Length; i--)
        {
            if (IsLive(i))
            {
                destination[n++] = _log[i];
            }
        }

        return n;
    }

    /// <summary>All keys, least recently used first.</summary>
    public IEnumerable<ulong> LeastRecentFirst()
    {
        for (int i = _head; i < _tail; i++)
        {
            if (IsLive(i))
            {
                yield return _log[i];
            }
        }
    }

    private static int LiveWords(int logLength) => (logLength + 63) >> 6;

    private bool IsLive(int position) => (_live[position >> 6] & (1UL << position)) != 0;

    private void SetLive(int position) => _live[position >> 6] |= 1UL << position;

    private void ClearLive(int position) => _live[position >> 6] &= ~(1UL << position);

    private ulong PopLeastRecent()
    {
        while (!IsLive(_head))
        {
            _head++;
        }

        ClearLive(_head);
        ulong key = _log[_head++];
        _map.Remove(key);
        return key;
    }

    /// <summary>Appends a key to the log, compacting or growing it when full; returns its position.</summary>
    /// <remarks>Callers must not hold a reference into the map across this call when it may compact.</remarks>
    private int Append(ulong key)
    {
        if (_tail == _log.Length)
        {
            MakeRoom();
        }

        _log[_tail] = key;
        SetLive(_tail);
        return _tail++;
    }

    private void MakeRoom()
    {
        // Grow while the log is under four times the live count (and twice the capacity), else compact: compaction
        // then costs at most a third of a probe per append, amortized.
        if (_log.Length < 2L * Capacity && _log.Length < 4L * (Count + 1))
        {
            Array.Resize(ref _log, (int)Math.Min(2L * Capacity, _log.Length * 2L));
            Array.Resize(ref _live, LiveWords(_log.Length));
            return;
        }

        int write = 0;
        for (int read = _head; read < _tail; read++)
        {
            if (IsLive(read))
            {
                ulong k = _log[read];
                _log[write] = k;
                _map.FindValue(k) = write++;
            }
        }

        Array.Clear(_live);
        for (int i = 0; i < write; i++)
        {
            SetLive(i);
        }

        _head = 0;
        _tail = write;
    }
}

/// <summary>What <see cref="LruSet.Touch"/> did.</summary>
internal enum TouchResult
{
    /// <summary>The key was absent and has been added.</summary>
    Added,

    /// <summary>The key was present and has been made the most recent.</summary>
    Refreshed,

    /// <summary>The key was present and already among the most recent, so it was left in place.</summary>
    AlreadyRecent,
}
