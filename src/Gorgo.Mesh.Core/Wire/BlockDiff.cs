namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// What changed between a replica's hot blocks in two digests, as a delta carries it: the blocks added (in the newer
/// digest's order) and the positions of those dropped among the older digest's blocks sorted by value. Reuses its
/// buffers; one instance per writer, not thread-safe.
/// </summary>
internal sealed class BlockDiff
{
    private ulong[] _added = [];
    private ulong[] _addedSorted = []; // the added blocks in value order, while a diff is computed
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
    /// <remarks>
    /// One merge walk over the two sorted arrays finds both sides' differences in linear time (hot sets run to tens of
    /// thousands of blocks per replica, and are diffed per peer every round); only the blocks added, usually few, are
    /// then looked up again to list them in <paramref name="now"/>'s order.
    /// </remarks>
    public void Compute(ulong[] sortedBefore, ulong[] now, ulong[] sortedNow)
    {
        if (_added.Length < now.Length)
        {
            _added = new ulong[now.Length];
            _addedSorted = new ulong[now.Length];
        }

        if (_removed.Length < sortedBefore.Length)
        {
            _removed = new int[sortedBefore.Length];
        }

        int removed = 0;
        int newOnes = 0;
        int i = 0;
        int j = 0;
        while (i < sortedBefore.Length || j < sortedNow.Length)
        {
            if (j == sortedNow.Length || (i < sortedBefore.Length && sortedBefore[i] < sortedNow[j]))
            {
                _removed[removed++] = i++;
            }
            else if (i == sortedBefore.Length || sortedNow[j] < sortedBefore[i])
            {
                _addedSorted[newOnes++] = sortedNow[j++];
            }
            else
            {
                ulong same = sortedBefore[i];
                while (i < sortedBefore.Length && sortedBefore[i] == same)
                {
                    i++;
                }

                while (j < sortedNow.Length && sortedNow[j] == same)
                {
                    j++;
                }
            }
        }

        int added = 0;
        if (newOnes > 0)
        {
            ReadOnlySpan<ulong> fresh = _addedSorted.AsSpan(0, newOnes);
            foreach (ulong hash in now)
            {
                if (fresh.BinarySearch(hash) >= 0)
                {
                    _added[added++] = hash;
                }
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
