using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Gorgo.Routing.Index;

namespace Gorgo.Routing.Tests;

public class PrefixIndexTests
{
    private static ulong[] Chain(int length, int seed) => TestFleet.Hasher.Hash(TestFleet.RandomTokens(length * 16, seed));

    private static int[] MatchAll(PrefixIndex index, ReadOnlySpan<ulong> prompt)
    {
        var matched = new int[index.SlotCapacity];
        index.Match(prompt, matched);
        return matched;
    }

    [Fact]
    public void One_walk_gives_each_replica_its_own_matched_prefix()
    {
        var index = new PrefixIndex();
        ulong[] prompt = Chain(10, 1);
        index.Record("a", prompt.AsSpan(0, 10));
        index.Record("b", prompt.AsSpan(0, 4));
        index.Record("c", Chain(10, 2));
        int slotA = index.SlotOf("a"), slotB = index.SlotOf("b"), slotC = index.SlotOf("c");

        var matched = new int[index.SlotCapacity];
        int longest = index.Match(prompt, matched);

        Assert.Equal(10, longest);
        Assert.Equal(10, matched[slotA]);
        Assert.Equal(4, matched[slotB]);
        Assert.Equal(0, matched[slotC]);
        Assert.Equal(4, index.MatchedBlocks("b", prompt));
    }

    [Fact]
    public void A_hole_in_the_chain_ends_the_match_there()
    {
        var index = new PrefixIndex();
        ulong[] prompt = Chain(8, 3);
        index.Record("a", prompt);
        index.Remove("a", prompt.AsSpan(3, 1));
        Assert.Equal(3, MatchAll(index, prompt)[index.SlotOf("a")]);
    }

    [Property(MaxTest = 100)]
    public bool Matched_prefix_is_monotone_in_the_prompt_and_never_exceeds_it(PositiveInt cachedLength, PositiveInt promptLength, PositiveInt cut)
    {
        var index = new PrefixIndex();
        ulong[] chain = Chain(Math.Min(cachedLength.Get, 64) + 64, 11);
        index.Record("r", chain.AsSpan(0, Math.Min(cachedLength.Get, 64)));
        int n = Math.Min(promptLength.Get, chain.Length);
        int k = Math.Min(cut.Get, n);
        int slot = index.SlotOf("r");
        int full = MatchAll(index, chain.AsSpan(0, n))[slot];
        int shorter = MatchAll(index, chain.AsSpan(0, k))[slot];
        return shorter <= full && full <= n && shorter <= k;
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    [InlineData(2, true)]
    public void Matches_and_counts_what_a_plain_set_per_replica_would_under_churning_records_removals_and_summaries(int seed, bool summarizedInOwnSets)
    {
        // 70 replicas (two words of slots), summaries that replace most of a set each time (as gossip does at scale),
        // and enough churn that blocks nobody holds pile up and are swept several times.
        var random = new Random(seed);
        var index = new PrefixIndex(new PrefixIndexOptions { OwnSets = summarizedInOwnSets ? PrefixOwnSets.Summarized : PrefixOwnSets.None });
        var model = new Dictionary<string, HashSet<ulong>>();
        var summarised = new HashSet<string>(); // with own sets, replicas known from summaries keep their blocks out of the shared map
        ulong[][] shared = Enumerable.Range(0, 8).Select(i => Chain(12, (seed * 100) + i)).ToArray();
        ulong[] Prompt() => random.Next(2) == 0 ? shared[random.Next(shared.Length)][..random.Next(1, 13)] : Chain(random.Next(1, 40), random.Next());
        for (int step = 0; step < 6_000; step++)
        {
            string replica = "r" + random.Next(70);
            HashSet<ulong> held = model.TryGetValue(replica, out HashSet<ulong>? set) ? set : model[replica] = [];
            ulong[] hashes = Prompt();
            switch (random.Next(10))
            {
                case < 4:
                    index.Record(replica, hashes);
                    held.UnionWith(hashes);
                    break;
                case < 6:
                    int known = index.SlotOf(replica);
                    int removed = known >= 0 && random.Next(2) == 0 ? index.Remove(known, hashes) : index.Remove(replica, hashes);
                    Assert.Equal(hashes.Distinct().Count(held.Contains), removed);
                    held.ExceptWith(hashes);
                    break;
                case < 8:
                    index.Apply(new PrefixSummary(replica, hashes), PrefixMergeMode.Replace);
                    held.Clear();
                    held.UnionWith(hashes);
                    if (summarizedInOwnSets)
                    {
                        summarised.Add(replica);
                    }

                    break;
                case 8:
                    index.Apply(new PrefixSummary(replica, hashes), PrefixMergeMode.Union);
                    held.UnionWith(hashes);
                    if (summarizedInOwnSets)
                    {
                        summarised.Add(replica);
                    }

                    break;
                default:
                    index.RemoveReplica(replica);
                    model.Remove(replica);
                    summarised.Remove(replica);
                    break;
            }

            if (step % 200 == 0 || step == 5_999)
            {
                Assert.Equal(model.Where(m => !summarised.Contains(m.Key)).SelectMany(m => m.Value).Distinct().Count(), index.DistinctBlocks);
                ulong[] prompt = Prompt();
                int[] matched = MatchAll(index, prompt);
                foreach ((string id, HashSet<ulong> blocks) in model)
                {
                    int expected = 0;
                    while (expected < prompt.Length && blocks.Contains(prompt[expected]))
                    {
                        expected++;
                    }

                    int slot = index.SlotOf(id);
                    Assert.Equal(expected, slot < 0 ? 0 : matched[slot]); // a replica only ever removed from is not registered

                }
            }
        }
    }

    [Fact]
    public void Memory_stays_within_the_per_replica_bound()
    {
        var index = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 100 });
        for (int seed = 0; seed < 50; seed++)
        {
            index.Record("a", Chain(30, seed));
            index.Record("b", Chain(30, seed + 1_000));
            Assert.InRange(index.BlockCount("a"), 0, 100);
            Assert.InRange(index.DistinctBlocks, 0, 200);
        }

        Assert.Equal(100, index.BlockCount("a"));
        Assert.Equal(200, index.DistinctBlocks);
    }

    [Fact]
    public void A_replica_known_from_summaries_evicts_from_its_own_set_and_still_matches_exactly()
    {
        var index = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 10, OwnSets = PrefixOwnSets.Summarized });
        ulong[] summary = Chain(6, 30);
        index.Apply(new PrefixSummary("a", summary), PrefixMergeMode.Replace);
        index.Record("b", summary);
        index.Record("a", Chain(8, 31)); // learned from routing: needs 4 more slots, evicts the summary's last 4 blocks

        int[] matched = MatchAll(index, summary);
        Assert.Equal(2, matched[index.SlotOf("a")]);
        Assert.Equal(6, matched[index.SlotOf("b")]);
        Assert.Equal(8, MatchAll(index, Chain(8, 31))[index.SlotOf("a")]);
        Assert.Equal(6, index.DistinctBlocks); // only b's blocks are in the shared map
    }

    [Fact]
    public void Eviction_drops_a_chain_from_its_tail_so_its_head_stays_matchable()
    {
        var index = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 10 });
        ulong[] old = Chain(8, 1);
        index.Record("a", old);
        index.Record("a", Chain(5, 2)); // needs 3 slots: evicts old's last 3 blocks

        Assert.Equal(5, index.MatchedBlocks("a", old));
        Assert.Equal(5, MatchAll(index, old)[index.SlotOf("a")]);
    }

    [Fact]
    public void Recording_with_a_known_held_prefix_still_adds_the_new_blocks_and_keeps_the_prefix()
    {
        var index = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 64 });
        ulong[] prompt = Chain(40, 12);
        index.Record("a", prompt.AsSpan(0, 30));
        int slot = index.SlotOf("a");

        index.Record(slot, prompt, heldPrefix: 30);
        Assert.Equal(40, index.MatchedBlocks("a", prompt));

        // Fill with other work until the prompt is the oldest, then route it again: the whole chain is refreshed.
        index.Record("a", Chain(20, 13));
        index.Record(slot, prompt, heldPrefix: 40);
        index.Record("a", Chain(20, 14));
        Assert.Equal(40, index.MatchedBlocks("a", prompt));
        Assert.Equal(64, index.BlockCount("a"));
    }

    [Fact]
    public void Removing_a_replica_forgets_its_blocks_and_frees_its_slot()
    {
        var index = new PrefixIndex();
        ulong[] prompt = Chain(6, 4);
        index.Record("a", prompt);
        index.Record("b", prompt);
        int slotA = index.SlotOf("a");

        Assert.True(index.RemoveReplica("a"));
        Assert.False(index.RemoveReplica("a"));
        Assert.Equal(-1, index.SlotOf("a"));
        Assert.Equal(6, index.DistinctBlocks); // b still holds them
        Assert.Equal(0, MatchAll(index, prompt)[slotA]);

        index.RemoveReplica("b");
        Assert.Equal(0, index.DistinctBlocks);
        Assert.InRange(index.Register("c"), 0, 1); // a freed slot is reused
        Assert.Equal(0, index.MatchedBlocks("c", prompt));
    }

    [Fact]
    public void Works_beyond_64_replicas()
    {
        var index = new PrefixIndex();
        ulong[] prompt = Chain(20, 5);
        for (int r = 0; r < 200; r++)
        {
            index.Record($"r{r}", prompt.AsSpan(0, r % 21));
        }

        Assert.True(index.SlotCapacity >= 200);
        int[] matched = MatchAll(index, prompt);
        for (int r = 0; r < 200; r++)
        {
            Assert.Equal(r % 21, matched[index.SlotOf($"r{r}")]);
        }
    }

    [Fact]
    public void Snapshot_then_replace_reproduces_the_index()
    {
        var source = new PrefixIndex();
        ulong[] p1 = Chain(12, 6), p2 = Chain(7, 7);
        source.Record("a", p1);
        source.Record("b", p2);
        source.Record("b", p1.AsSpan(0, 3));

        var copy = new PrefixIndex();
        copy.Record("a", Chain(4, 99)); // stale knowledge that Replace must drop
        foreach (PrefixSummary summary in source.Snapshot())
        {
            copy.Apply(summary, PrefixMergeMode.Replace);
        }

        foreach (ulong[] prompt in new[] { p1, p2 })
        {
            Assert.Equal(source.MatchedBlocks("a", prompt), copy.MatchedBlocks("a", prompt));
            Assert.Equal(source.MatchedBlocks("b", prompt), copy.MatchedBlocks("b", prompt));
        }

        Assert.Equal(0, copy.MatchedBlocks("a", Chain(4, 99)));
        Assert.Equal(source.Summarize("b").Hashes, copy.Summarize("b").Hashes);
    }

    [Fact]
    public void Union_adds_to_what_is_known_and_bounded_summaries_keep_the_hottest()
    {
        var index = new PrefixIndex();
        ulong[] known = Chain(5, 8), gossiped = Chain(5, 9);
        index.Record("a", known);
        index.Apply(new PrefixSummary("a", gossiped), PrefixMergeMode.Union);
        Assert.Equal(5, index.MatchedBlocks("a", known));
        Assert.Equal(5, index.MatchedBlocks("a", gossiped));

        PrefixSummary top = index.Summarize("a", maxBlocks: 3);
        Assert.Equal(gossiped[..3], top.Hashes);
        Assert.Empty(index.Summarize("unknown").Hashes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_walk_over_some_slots_gives_them_the_matches_of_a_full_walk_and_leaves_the_rest(bool ownSets)
    {
        // 100 replicas over two words of slots, sharing a few chains; replicas r0-r49 known from summaries.
        var random = new Random(3);
        var index = new PrefixIndex(new PrefixIndexOptions { OwnSets = ownSets ? PrefixOwnSets.Summarized : PrefixOwnSets.None });
        ulong[][] chains = Enumerable.Range(0, 4).Select(i => Chain(10, 70 + i)).ToArray();
        for (int r = 0; r < 100; r++)
        {
            ulong[] held = chains[r % 4][..random.Next(1, 11)];
            if (r < 50)
            {
                index.Apply(new PrefixSummary($"r{r}", held), PrefixMergeMode.Replace);
            }
            else
            {
                index.Record($"r{r}", held);
            }
        }

        int[] subset = [3, 17, 42, 64, 65, 99];
        var mask = new ulong[index.SlotCapacity / 64];
        foreach (int r in subset)
        {
            int slot = index.SlotOf($"r{r}");
            mask[slot >> 6] |= 1UL << (slot & 63);
        }

        foreach (ulong[] chain in chains)
        {
            int[] full = MatchAll(index, chain);
            int[] some = Enumerable.Repeat(-7, index.SlotCapacity).ToArray();
            int longest = index.Match(chain, some, mask);

            Assert.All(subset, r => Assert.Equal(full[index.SlotOf($"r{r}")], some[index.SlotOf($"r{r}")]));
            Assert.Equal(subset.Max(r => full[index.SlotOf($"r{r}")]), longest);
            Assert.Equal(index.SlotCapacity - subset.Length, some.Count(m => m == -7)); // nobody else's entry is touched
        }
    }

    [Fact]
    public void Rejects_invalid_bounds_and_too_many_replicas()
    {
        Assert.Throws<Options.RoutingOptionsException>(() => new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 0 }));
        var index = new PrefixIndex(new PrefixIndexOptions { MaxReplicas = 2 });
        index.Register("a");
        index.Register("b");
        Assert.Contains("maximum of 2", Assert.Throws<InvalidOperationException>(() => index.Register("c")).Message);
        Assert.Throws<ArgumentException>(() => index.Match([1UL], new int[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Remove(5, [1UL]));
    }
}
