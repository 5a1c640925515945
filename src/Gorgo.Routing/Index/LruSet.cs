using System.Runtime.CompilerServices;

namespace Gorgo.Routing.Index;

/// <summary>A bounded set of block hashes with least-recently-used eviction; allocation-free once grown.</summary>
/// <remarks>
/// A touch appends the key to a log and records its log position in a <see cref="HashSlotMap"/>; an entry in the log is
/// live only while the map still points at it. Eviction pops live entries from the log's head (the least recent).
/// Touching is one hash probe plus one sequential write, which keeps refreshing a long chain cheap; a key already in
/// the most recent eighth of the set is not moved (LRU exact up to that window). The log is compacted when full, so it
/// never exceeds twice the capacity. Not thread-safe.
/// </remarks>
internal sealed class LruSet
{
    private readonly HashSlotMap _map;
    private ulong[] _log;
    private int _head;
    private int _tail;

    public LruSet(int capacity, int expectedCount = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        int initial = Math.Clamp(expectedCount, 1, capacity);
        _log = new ulong[initial];
        _map = new HashSlotMap(initial);
    }

    public int Capacity { get; }

    public int Count => _map.Count;

    /// <summary>Bytes held by this set's arrays (for memory accounting).</summary>
    public long EstimatedBytes => (_log.Length * 8L) + (_map.Capacity * 12L);

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
                position = Append(key);
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

    public bool Remove(ulong key) => _map.Remove(key);

    /// <summary>Empties the set into the state of a new one made for <paramref name="expectedCount"/> keys, reusing its arrays where it can.</summary>
    public void Reset(int expectedCount)
    {
        int initial = Math.Clamp(expectedCount, 1, Capacity);
        if (_log.Length != initial)
        {
            _log = new ulong[initial]; // the log's length decides when it compacts, which the LRU window depends on
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

    private bool IsLive(int position)
    {
        ref int current = ref _map.FindValue(_log[position]);
        return !Unsafe.IsNullRef(ref current) && current == position;
    }

    private ulong PopLeastRecent()
    {
        while (!IsLive(_head))
        {
            _head++;
        }

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
        return _tail++;
    }

    private void MakeRoom()
    {
        // Grow while the log is under four times the live count (and twice the capacity), else compact: compaction
        // then costs at most a third of a probe per append, amortized.
        if (_log.Length < 2L * Capacity && _log.Length < 4L * (Count + 1))
        {
            Array.Resize(ref _log, (int)Math.Min(2L * Capacity, _log.Length * 2L));
            return;
        }

        int write = 0;
        for (int read = _head; read < _tail; read++)
        {
            ulong k = _log[read];
            ref int position = ref _map.FindValue(k);
            if (!Unsafe.IsNullRef(ref position) && position == read)
            {
                _log[write] = k;
                position = write++;
            }
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
