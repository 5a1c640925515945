namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// What changed between a replica's hot blocks in two digests, as a delta carries it: the blocks added (in the newer
/// digest's order) and the positions of those dropped among the older digest's blocks sorted by value. Reuses its
/// buffers; one instance per writer, not thread-safe.
/// </summary>
internal sealed class BlockDiff
{
    private ulong[] _added = [];
    private int[] _removed = [];

    /// <summary>The blocks added by the last <see cref="Compute"/>, first <see cref="AddedCount"/> of them.</summary>
    public ulong[] Added => _added;

    /// <summary>How many blocks were added.</summary>
    public int AddedCount { get; private set; }

    /// <summary>The positions dropped by the last <see cref="Compute"/>, ascending.</summary>
    public ReadOnlySpan<int> Removed => _removed.AsSpan(0, RemovedCount);

    /// <summary>How many blocks were dropped.</summary>
    public int RemovedCount { get; private set; }

    /// <summary>Compares <paramref name="sortedBefore"/> (the older blocks, sorted by value) with <paramref name="now"/> (the newer, in their order) and <paramref name="sortedNow"/> (the same, sorted).</summary>
    public void Compute(ulong[] sortedBefore, ulong[] now, ulong[] sortedNow)
    {
        if (_added.Length < now.Length)
        {
            _added = new ulong[now.Length];
        }

        if (_removed.Length < sortedBefore.Length)
        {
            _removed = new int[sortedBefore.Length];
        }

        int added = 0;
        foreach (ulong hash in now)
        {
            if (Array.BinarySearch(sortedBefore, hash) < 0)
            {
                _added[added++] = hash;
            }
        }

        int removed = 0;
        for (int i = 0; i < sortedBefore.Length; i++)
        {
            if (Array.BinarySearch(sortedNow, sortedBefore[i]) < 0)
            {
                _removed[removed++] = i;
            }
        }

        (AddedCount, RemovedCount) = (added, removed);
    }

    /// <summary>A copy of <paramref name="hashes"/> sorted by value (how removals are named).</summary>
    public static ulong[] Sorted(ulong[] hashes)
    {
        ulong[] sorted = [.. hashes];
        Array.Sort(sorted);
        return sorted;
    }
}
