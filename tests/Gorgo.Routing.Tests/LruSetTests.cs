using Gorgo.Routing.Index;

namespace Gorgo.Routing.Tests;

public class LruSetTests
{
    [Fact]
    public void Evicts_the_least_recently_used_key_when_full()
    {
        var lru = new LruSet(3);
        lru.Touch(1, out _, out _);
        lru.Touch(2, out _, out _);
        lru.Touch(3, out _, out _);
        lru.Touch(1, out _, out _); // 2 is now least recent

        Assert.Equal(TouchResult.Added, lru.Touch(4, out bool evicted, out ulong evictedKey));
        Assert.True(evicted);
        Assert.Equal(2UL, evictedKey);
        Assert.Equal(3, lru.Count);
        Assert.False(lru.Contains(2));
    }

    [Fact]
    public void Never_exceeds_its_capacity()
    {
        var lru = new LruSet(100);
        var random = new Random(4);
        for (int i = 0; i < 10_000; i++)
        {
            lru.Touch((ulong)random.Next(0, 500), out _, out _);
            if (i % 7 == 0)
            {
                lru.Remove((ulong)random.Next(0, 500));
            }

            Assert.InRange(lru.Count, 0, 100);
        }
    }

    [Fact]
    public void Lists_keys_most_recent_first_and_reuses_removed_slots()
    {
        var lru = new LruSet(4);
        foreach (ulong k in new ulong[] { 10, 20, 30 })
        {
            lru.Touch(k, out _, out _);
        }

        Assert.True(lru.Remove(20));
        Assert.False(lru.Remove(20));
        lru.Touch(40, out _, out _);
        lru.Touch(10, out _, out _);

        var mru = new ulong[10];
        int n = lru.CopyMostRecentFirst(mru);
        Assert.Equal([10UL, 40UL, 30UL], mru[..n]);
        Assert.Equal([30UL, 40UL, 10UL], lru.LeastRecentFirst().ToArray());
    }

    [Fact]
    public void Keys_already_among_the_most_recent_eighth_are_not_moved()
    {
        var lru = new LruSet(64);
        for (ulong k = 0; k < 64; k++)
        {
            lru.Touch(k, out _, out _);
        }

        Assert.Equal(TouchResult.AlreadyRecent, lru.Touch(60, out _, out _)); // 4th most recent of 64: inside the window of 8
        Assert.Equal(TouchResult.Refreshed, lru.Touch(0, out _, out _));      // least recent: moved to the front
        lru.Touch(100, out bool evicted, out ulong evictedKey);
        Assert.True(evicted);
        Assert.Equal(1UL, evictedKey);                                         // 0 was refreshed, so 1 is now the oldest
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(1_000, 3)]
    public void Reported_additions_and_evictions_always_describe_the_set_exactly(int capacity, int seed)
    {
        var lru = new LruSet(capacity);
        var model = new HashSet<ulong>();
        var random = new Random(seed);
        for (int i = 0; i < 50_000; i++)
        {
            ulong key = (ulong)random.Next(0, capacity * 3);
            if (random.Next(10) == 0)
            {
                Assert.Equal(model.Remove(key), lru.Remove(key));
                continue;
            }

            TouchResult result = lru.Touch(key, out bool evicted, out ulong evictedKey);
            Assert.Equal(result == TouchResult.Added, !model.Contains(key));
            if (evicted)
            {
                Assert.True(model.Remove(evictedKey));
                Assert.NotEqual(key, evictedKey);
            }

            model.Add(key);
            Assert.True(lru.Count <= capacity);
        }

        Assert.Equal(model.Order(), lru.LeastRecentFirst().Order());
        Assert.Equal(model.Count, lru.Count);
        Assert.True(lru.EstimatedBytes <= (2L * capacity * 8) + (64 * 16) + (capacity * 4L * 16) + (2L * capacity / 8) + 8);
    }

    [Theory]
    [InlineData(5, 1)]
    [InlineData(64, 2)]
    [InlineData(700, 3)]
    public void Walks_of_the_log_list_each_held_key_once_in_recency_order_through_refreshes_removals_and_compactions(int capacity, int seed)
    {
        var lru = new LruSet(capacity, expectedCount: 4);
        var model = new HashSet<ulong>();
        var random = new Random(seed);
        var buffer = new ulong[capacity];
        for (int i = 0; i < 30_000; i++)
        {
            ulong key = (ulong)random.Next(0, capacity * 2);
            if (random.Next(8) == 0)
            {
                Assert.Equal(model.Remove(key), lru.Remove(key));
            }
            else
            {
                lru.Touch(key, out bool evicted, out ulong evictedKey);
                if (evicted)
                {
                    model.Remove(evictedKey);
                }

                model.Add(key);
            }

            if (i % 97 == 0)
            {
                int n = lru.CopyMostRecentFirst(buffer);
                ulong[] mostRecentFirst = buffer[..n];
                Assert.Equal(model.Count, n);
                Assert.Equal(model.Order(), mostRecentFirst.Order());
                Assert.Equal(mostRecentFirst.Reverse(), lru.LeastRecentFirst());
            }
        }
    }
}
