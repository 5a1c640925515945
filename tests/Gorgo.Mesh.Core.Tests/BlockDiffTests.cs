using Gorgo.Mesh.Core.Wire;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>The diff between two versions of a replica's hot blocks that a delta digest carries.</summary>
public class BlockDiffTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Lists_what_a_plain_set_comparison_finds_in_the_same_order(int seed)
    {
        // Hot sets that overlap by various amounts, including empty ones and identical ones.
        var random = new Random(seed);
        var diff = new BlockDiff();
        for (int round = 0; round < 200; round++)
        {
            ulong[] pool = Enumerable.Range(0, random.Next(1, 400)).Select(_ => (ulong)random.NextInt64()).Distinct().ToArray();
            ulong[] before = pool.Where(_ => random.NextDouble() < 0.6).ToArray();
            ulong[] now = round % 10 == 0 ? [.. before] : pool.Where(_ => random.NextDouble() < 0.6).OrderBy(_ => random.Next()).ToArray();
            ulong[] sortedBefore = BlockDiff.Sorted(before);

            diff.Compute(sortedBefore, now, BlockDiff.Sorted(now));

            var beforeSet = sortedBefore.ToHashSet();
            var nowSet = now.ToHashSet();
            Assert.Equal(now.Where(h => !beforeSet.Contains(h)), diff.Added.Take(diff.AddedCount));
            Assert.Equal(Enumerable.Range(0, sortedBefore.Length).Where(i => !nowSet.Contains(sortedBefore[i])), diff.Removed.ToArray());
        }
    }

    [Fact]
    public void Nothing_changed_gives_an_empty_diff_and_everything_new_gives_all_of_it()
    {
        var diff = new BlockDiff();
        ulong[] hashes = [5, 1, 9, 3];
        ulong[] sorted = BlockDiff.Sorted(hashes);

        diff.Compute(sorted, hashes, sorted);
        Assert.Equal((0, 0), (diff.AddedCount, diff.RemovedCount));

        diff.Compute([], hashes, sorted);
        Assert.Equal(hashes, diff.Added.Take(diff.AddedCount));
        diff.Compute(sorted, [], []);
        Assert.Equal([0, 1, 2, 3], diff.Removed.ToArray());
    }
}
