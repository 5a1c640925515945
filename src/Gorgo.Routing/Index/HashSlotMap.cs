namespace Gorgo.Routing.Index;

/// <summary>Open-addressing map from a 64-bit block hash to a non-negative int; allocation-free lookups.</summary>
/// <remarks>
/// Linear probing with Fibonacci hashing and backward-shift deletion (no tombstones). A key and its value sit side by
/// side in one entry, so a probe that finds its key costs one cache line, not one per array. Not thread-safe.
/// </remarks>
public sealed class HashSlotMap
{
    private const int Empty = -1;
    private const int MinCapacity = 16;

    private Entry[] _entries;
    private int _mask;
    private int _shift;
    private int _growAt;

    /// <summary>Creates a map sized for <paramref name="expectedCount"/> keys without growing.</summary>
    public HashSlotMap(int expectedCount = 0)
    {
        int capacity = MinCapacity;
        while (capacity * 5 / 8 < expectedCount)
        {
            capacity *= 2;
        }

        _entries = [];
        Allocate(capacity);
    }

    /// <summary>Keys held.</summary>
    public int Count { get; private set; }

    /// <summary>Slots allocated (for memory accounting).</summary>
    public int Capacity => _entries.Length;

    /// <summary>Bytes held by the map's table.</summary>
    public long EstimatedBytes => _entries.Length * 16L;

    /// <summary>The key's value, when present.</summary>
    public bool TryGetValue(ulong key, out int value)
    {
        Entry[] entries = _entries;
        int i = Home(key);
        while (true)
        {
            ref Entry e = ref entries[i];
            if (e.Value == Empty)
            {
                value = 0;
                return false;
            }

            if (e.Key == key)
            {
                value = e.Value;
                return true;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>A reference to the key's value, or a null reference when absent (check with <see cref="System.Runtime.CompilerServices.Unsafe.IsNullRef{T}(ref readonly T)"/>).</summary>
    public ref int FindValue(ulong key)
    {
        Entry[] entries = _entries;
        int i = Home(key);
        while (true)
        {
            ref Entry e = ref entries[i];
            if (e.Value == Empty)
            {
                return ref System.Runtime.CompilerServices.Unsafe.NullRef<int>();
            }

            if (e.Key == key)
            {
                return ref e.Value;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>Adds the key or overwrites its value.</summary>
    public void Set(ulong key, int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (Count >= _growAt)
        {
            Resize(_entries.Length * 2);
        }

        Entry[] entries = _entries;
        int i = Home(key);
        while (entries[i].Value != Empty)
        {
            if (entries[i].Key == key)
            {
                entries[i].Value = value;
                return;
            }

            i = (i + 1) & _mask;
        }

        entries[i] = new Entry(key, value);
        Count++;
    }

    /// <summary>Removes the key; false when absent.</summary>
    public bool Remove(ulong key) => Remove(key, out _);

    /// <summary>Removes the key, giving its value; false when absent.</summary>
    public bool Remove(ulong key, out int value)
    {
        Entry[] entries = _entries;
        int i = Home(key);
        while (true)
        {
            if (entries[i].Value == Empty)
            {
                value = 0;
                return false;
            }

            if (entries[i].Key == key)
            {
                break;
            }

            i = (i + 1) & _mask;
        }

        value = entries[i].Value;

        // Backward-shift deletion: pull later entries of the probe run into the hole when their home allows it.
        int hole = i;
        int j = i;
        while (true)
        {
            j = (j + 1) & _mask;
            if (entries[j].Value == Empty)
            {
                break;
            }

            int home = Home(entries[j].Key);
            bool homeInCyclicRange = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (homeInCyclicRange)
            {
                continue;
            }

            entries[hole] = entries[j];
            hole = j;
        }

        entries[hole].Value = Empty;
        Count--;
        return true;
    }

    /// <summary>Every key present, in no order (allocates an iterator; not for hot paths).</summary>
    public IEnumerable<ulong> Keys()
    {
        Entry[] entries = _entries;
        for (int i = 0; i < entries.Length; i++)
        {
            if (entries[i].Value != Empty)
            {
                yield return entries[i].Key;
            }
        }
    }

    /// <summary>Removes every key (capacity kept).</summary>
    public void Clear()
    {
        Array.Fill(_entries, new Entry(0, Empty));
        Count = 0;
    }

    private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    private void Allocate(int capacity)
    {
        _entries = new Entry[capacity];
        Array.Fill(_entries, new Entry(0, Empty));
        _mask = capacity - 1;
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        _growAt = capacity * 5 / 8;
    }

    private void Resize(int capacity)
    {
        Entry[] old = _entries;
        Allocate(capacity);
        Count = 0;
        foreach (Entry e in old)
        {
            if (e.Value != Empty)
            {
                Set(e.Key, e.Value);
            }
        }
    }

    /// <summary>A key and its value (<see cref="Empty"/> marks a free entry).</summary>
    private struct Entry(ulong key, int value)
    {
        public ulong Key = key;
        public int Value = value;
    }
}
