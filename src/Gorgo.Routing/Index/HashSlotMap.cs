namespace Gorgo.Routing.Index;

/// <summary>Open-addressing map from a 64-bit block hash to a non-negative int; allocation-free lookups.</summary>
/// <remarks>Linear probing with Fibonacci hashing and backward-shift deletion (no tombstones). Not thread-safe.</remarks>
public sealed class HashSlotMap
{
    private const int Empty = -1;
    private const int MinCapacity = 16;

    private ulong[] _keys;
    private int[] _values;
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

        _keys = [];
        _values = [];
        Allocate(capacity);
    }

    /// <summary>Keys held.</summary>
    public int Count { get; private set; }

    /// <summary>Slots allocated (for memory accounting).</summary>
    public int Capacity => _values.Length;

    /// <summary>The key's value, when present.</summary>
    public bool TryGetValue(ulong key, out int value)
    {
        int[] values = _values;
        ulong[] keys = _keys;
        int i = Home(key);
        while (true)
        {
            int v = values[i];
            if (v == Empty)
            {
                value = 0;
                return false;
            }

            if (keys[i] == key)
            {
                value = v;
                return true;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>A reference to the key's value, or a null reference when absent (check with <see cref="System.Runtime.CompilerServices.Unsafe.IsNullRef{T}(ref readonly T)"/>).</summary>
    public ref int FindValue(ulong key)
    {
        int[] values = _values;
        ulong[] keys = _keys;
        int i = Home(key);
        while (true)
        {
            if (values[i] == Empty)
            {
                return ref System.Runtime.CompilerServices.Unsafe.NullRef<int>();
            }

            if (keys[i] == key)
            {
                return ref values[i];
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
            Resize(_values.Length * 2);
        }

        int i = Home(key);
        while (_values[i] != Empty)
        {
            if (_keys[i] == key)
            {
                _values[i] = value;
                return;
            }

            i = (i + 1) & _mask;
        }

        _keys[i] = key;
        _values[i] = value;
        Count++;
    }

    /// <summary>Removes the key; false when absent.</summary>
    public bool Remove(ulong key)
    {
        int i = Home(key);
        while (true)
        {
            if (_values[i] == Empty)
            {
                return false;
            }

            if (_keys[i] == key)
            {
                break;
            }

            i = (i + 1) & _mask;
        }

        // Backward-shift deletion: pull later entries of the probe run into the hole when their home allows it.
        int hole = i;
        int j = i;
        while (true)
        {
            j = (j + 1) & _mask;
            if (_values[j] == Empty)
            {
                break;
            }

            int home = Home(_keys[j]);
            bool homeInCyclicRange = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (homeInCyclicRange)
            {
                continue;
            }

            _keys[hole] = _keys[j];
            _values[hole] = _values[j];
            hole = j;
        }

        _values[hole] = Empty;
        Count--;
        return true;
    }

    /// <summary>Removes every key (capacity kept).</summary>
    public void Clear()
    {
        Array.Fill(_values, Empty);
        Count = 0;
    }

    private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    private void Allocate(int capacity)
    {
        _keys = new ulong[capacity];
        _values = new int[capacity];
        Array.Fill(_values, Empty);
        _mask = capacity - 1;
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        _growAt = capacity * 5 / 8;
    }

    private void Resize(int capacity)
    {
        ulong[] oldKeys = _keys;
        int[] oldValues = _values;
        Allocate(capacity);
        Count = 0;
        for (int i = 0; i < oldValues.Length; i++)
        {
            if (oldValues[i] != Empty)
            {
                Set(oldKeys[i], oldValues[i]);
            }
        }
    }
}
