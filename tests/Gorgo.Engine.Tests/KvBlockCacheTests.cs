using Gorgo.Engine.Model;

namespace Gorgo.Engine.Tests;

public class KvBlockCacheTests
{
    private static void Fill(KvBlockCache cache, params ulong[] hashes)
    {
        Assert.True(cache.TryReserve(hashes.Length));
        foreach (ulong h in hashes)
        {
            cache.Store(h);
        }

        cache.Release(hashes, 0);
    }

    [Fact]
    public void Unreferenced_blocks_are_evicted_least_recently_used_first()
    {
        var cache = new KvBlockCache(4);
        Fill(cache, 1, 2);
        Fill(cache, 3, 4);
        cache.Acquire([1UL]);
        cache.Release([1UL], 0); // 1 is now the most recent

        Assert.True(cache.TryReserve(2));
        Assert.False(cache.Contains(2)); // released last-first: 2 before 1, so 2 was older
        Assert.False(cache.Contains(4));
        Assert.True(cache.Contains(1));
        Assert.True(cache.Contains(3));
    }

    [Fact]
    public void Referenced_blocks_are_never_evicted_and_capacity_is_a_hard_bound()
    {
        var cache = new KvBlockCache(4);
        Assert.True(cache.TryReserve(2));
        cache.Store(10);
        cache.Store(11); // referenced by a running request
        Assert.False(cache.TryReserve(3));
        Assert.True(cache.TryReserve(2));
        Assert.Equal(4, cache.UsedBlocks);
        Assert.Equal(1.0, cache.Utilization);
        Assert.False(cache.TryReserve(1));
    }

    [Fact]
    public void Storing_a_block_another_request_cached_first_shares_it()
    {
        var cache = new KvBlockCache(4);
        Assert.True(cache.TryReserve(1));
        Assert.True(cache.TryReserve(1));
        cache.Store(7);
        cache.Store(7);
        Assert.Equal(1, cache.CachedBlocks);
        Assert.Equal(1, cache.UsedBlocks);
        Assert.Equal(0, cache.ReservedBlocks);
        Assert.Equal(3, cache.FreeBlocks);
    }

    [Fact]
    public void Matching_stops_at_the_first_missing_block()
    {
        var cache = new KvBlockCache(8);
        Fill(cache, 1, 2, 3);
        Assert.Equal(2, cache.MatchPrefix([1UL, 2UL, 9UL, 3UL]));
        Assert.Equal(0, cache.MatchPrefix([9UL, 1UL]));
    }
}
