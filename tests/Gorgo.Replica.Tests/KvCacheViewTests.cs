using Gorgo.Replica.KvEvents;
using Gorgo.Routing.Hashing;

namespace Gorgo.Replica.Tests;

public sealed class KvCacheViewTests
{
    private static readonly int[] Tokens = Enumerable.Range(100, 64).ToArray();

    [Fact]
    public void Stored_blocks_become_the_routers_own_hashes_of_their_tokens()
    {
        var hasher = new BlockHasher(16);
        var view = new KvCacheView(hasher);

        // Engine hashes are opaque (e.g. SHA-256 folded): the view re-hashes the tokens along the router's chain.
        view.Apply(Batch(new KvBlockStored([901, 902], null, Tokens[..32], 16, null, null)));
        view.Apply(Batch(new KvBlockStored([903, 904], 902, Tokens[32..], 16, null, "GPU")));

        Assert.True(view.Exact);
        Assert.Equal(hasher.Hash(Tokens).Order(), view.Hashes().Order());
    }

    [Fact]
    public void Engine_blocks_larger_or_smaller_than_the_routers_map_to_the_same_router_blocks()
    {
        var hasher = new BlockHasher(16);
        var large = new KvCacheView(hasher);
        var small = new KvCacheView(hasher);

        large.Apply(Batch(new KvBlockStored([1, 2], null, Tokens, 32, null, null)));
        ulong[] smallHashes = Enumerable.Range(1, 8).Select(i => (ulong)i).ToArray();
        small.Apply(Batch(new KvBlockStored(smallHashes[..3], null, Tokens[..24], 8, null, null)));
        small.Apply(Batch(new KvBlockStored(smallHashes[3..], 3, Tokens[24..], 8, null, null)));

        Assert.Equal(hasher.Hash(Tokens).Order(), large.Hashes().Order());
        Assert.Equal(hasher.Hash(Tokens).Order(), small.Hashes().Order());
    }

    [Fact]
    public void Removals_and_clears_apply_at_once_and_are_reported_to_the_listener()
    {
        var hasher = new BlockHasher(16);
        var stored = new List<ulong>();
        var removed = new List<ulong>();
        var view = new KvCacheView(hasher, (s, r) =>
        {
            stored.AddRange(s);
            removed.AddRange(r);
        });
        ulong[] expected = hasher.Hash(Tokens);

        view.Apply(Batch(new KvBlockStored([1, 2, 3, 4], null, Tokens, 16, null, null)));
        view.Apply(Batch(new KvBlockRemoved([4, 3], null)));

        Assert.Equal(expected[..2].Order(), view.Hashes().Order());
        Assert.Equal(expected, stored);
        Assert.Equal(new[] { expected[3], expected[2] }, removed);

        view.Apply(Batch(new KvAllBlocksCleared()));
        Assert.Empty(view.Hashes());
        Assert.Equal(expected.Order(), removed.Order());
    }

    [Fact]
    public void A_block_stored_and_removed_in_one_batch_is_not_reported()
    {
        var reported = new List<ulong>();
        var view = new KvCacheView(new BlockHasher(16), (s, r) => reported.AddRange(s.Concat(r)));

        view.Apply(Batch(new KvBlockStored([1], null, Tokens[..16], 16, null, null), new KvBlockRemoved([1], null)));

        Assert.Empty(view.Hashes());
        Assert.Empty(reported);
    }

    [Fact]
    public void Blocks_offloaded_to_other_media_do_not_count()
    {
        var view = new KvCacheView(new BlockHasher(16));

        view.Apply(Batch(new KvBlockStored([1], null, Tokens[..16], 16, null, "CPU")));

        Assert.Empty(view.Hashes());
    }

    [Fact]
    public void An_unknown_parent_or_a_loss_makes_the_view_approximate_until_the_engine_clears()
    {
        var view = new KvCacheView(new BlockHasher(16));

        view.Apply(Batch(new KvBlockStored([5], 4, Tokens[..16], 16, null, null)));
        Assert.False(view.Exact);
        Assert.Equal(1, view.UnresolvedBlocks);
        Assert.Contains("parent", view.ApproximateReason, StringComparison.Ordinal);

        view.Apply(Batch(new KvAllBlocksCleared()));
        Assert.True(view.Exact);

        view.Lose("batches 3–4 were missed");
        Assert.False(view.Exact);
        view.Restart();
        Assert.True(view.Exact);
    }

    private static KvEventBatch Batch(params KvEvent[] events) => new(0, events);
}
