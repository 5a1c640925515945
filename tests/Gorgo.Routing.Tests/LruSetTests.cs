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

        Assert.True(lru.Touch(4, out bool evicted, out ulong evictedKey));
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
}
