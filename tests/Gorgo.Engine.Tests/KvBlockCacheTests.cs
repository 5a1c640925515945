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

    [Fact]
    public void Behaves_as_a_plain_reference_cache_under_random_requests()
    {
        // Requests from a few prompt families start (match, acquire, reserve), store their blocks one at a time and
        // finish (release last block first), against a dictionary-and-linked-list model of the same LRU rules.
        var random = new Random(11);
        var cache = new KvBlockCache(40);
        var model = new ReferenceCache(40);
        var running = new List<(ulong[] Chain, int Held, int Reserved)>();
        var events = new List<CacheEvent>();
        for (int op = 0; op < 20_000; op++)
        {
            int pick = random.Next(3);
            if (pick == 0 || running.Count == 0)
            {
                ulong family = (ulong)random.Next(8) << 32;
                ulong[] chain = Enumerable.Range(1, random.Next(1, 12)).Select(b => family | (uint)b).ToArray();
                int matched = cache.MatchPrefix(chain);
                Assert.Equal(model.MatchPrefix(chain), matched);
                cache.Acquire(chain.AsSpan(0, matched));
                model.Acquire(chain.AsSpan(0, matched));
                int needed = chain.Length - matched + 1;
                bool fits = cache.TryReserve(needed);
                Assert.Equal(model.TryReserve(needed), fits);
                if (fits)
                {
                    running.Add((chain, matched, needed));
                }
                else
                {
                    cache.Release(chain.AsSpan(0, matched), 0);
                    model.Release(chain.AsSpan(0, matched), 0);
                }
            }
            else if (pick == 1 && running.FindIndex(r => r.Held < r.Chain.Length) is var storing and >= 0)
            {
                (ulong[] chain, int held, int reserved) = running[storing];
                cache.Store(chain[held]);
                model.Store(chain[held]);
                running[storing] = (chain, held + 1, reserved - 1);
            }
            else
            {
                int at = random.Next(running.Count);
                (ulong[] chain, int held, int reserved) = running[at];
                running.RemoveAt(at);
                cache.Release(chain.AsSpan(0, held), reserved);
                model.Release(chain.AsSpan(0, held), reserved);
            }

            Assert.Equal(model.Cached, cache.CachedBlocks);
            Assert.Equal(model.Referenced, cache.ReferencedBlocks);
            Assert.Equal(model.Reserved, cache.ReservedBlocks);
            events.Clear();
            cache.DrainEvents(events);
            Assert.Equal(model.DrainEvents(), events.Select(e => (e.Kind, e.BlockHash)));
        }
    }

    /// <summary>The cache's rules written plainly: a dictionary of reference counts and a linked list of the unreferenced, oldest first.</summary>
    private sealed class ReferenceCache(int capacity)
    {
        private readonly Dictionary<ulong, int> _refs = [];
        private readonly LinkedList<ulong> _evictable = new();
        private readonly List<(CacheEventKind, ulong)> _events = [];

        public int Cached => _refs.Count;

        public int Referenced => _refs.Values.Count(r => r > 0);

        public int Reserved { get; private set; }

        public int MatchPrefix(ReadOnlySpan<ulong> chain)
        {
            int i = 0;
            while (i < chain.Length && _refs.ContainsKey(chain[i]))
            {
                i++;
            }

            return i;
        }

        public void Acquire(ReadOnlySpan<ulong> prefix)
        {
            foreach (ulong h in prefix)
            {
                Reference(h);
            }
        }

        public bool TryReserve(int blocks)
        {
            if (blocks > capacity - Cached - Reserved + _evictable.Count)
            {
                return false;
            }

            while (capacity - Cached - Reserved < blocks)
            {
                ulong oldest = _evictable.First!.Value;
                _evictable.RemoveFirst();
                _refs.Remove(oldest);
                _events.Add((CacheEventKind.Removed, oldest));
            }

            Reserved += blocks;
            return true;
        }

        public void Store(ulong hash)
        {
            Reserved--;
            if (_refs.ContainsKey(hash))
            {
                Reference(hash);
                return;
            }

            _refs[hash] = 1;
            _events.Add((CacheEventKind.Stored, hash));
        }

        public void Release(ReadOnlySpan<ulong> held, int reservations)
        {
            for (int i = held.Length - 1; i >= 0; i--)
            {
                if (--_refs[held[i]] == 0)
                {
                    _evictable.AddLast(held[i]);
                }
            }

            Reserved -= reservations;
        }

        public List<(CacheEventKind, ulong)> DrainEvents()
        {
            var drained = _events.ToList();
            _events.Clear();
            return drained;
        }

        private void Reference(ulong hash)
        {
            if (_refs[hash]++ == 0)
            {
                _evictable.Remove(hash);
            }
        }
    }
}
