using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tests;

public class BlockHasherTests
{
    [Property(MaxTest = 200)]
    public bool Equal_prefixes_give_equal_hashes_up_to_the_last_shared_full_block(int[] shared, int[] tailA, int[] tailB, PositiveInt blockSizeSeed)
    {
        var hasher = new BlockHasher((blockSizeSeed.Get % 8) + 1);
        int[] a = [.. shared, .. tailA];
        int[] b = [.. shared, .. tailB];
        ulong[] ha = hasher.Hash(a);
        ulong[] hb = hasher.Hash(b);
        int sharedBlocks = shared.Length / hasher.BlockSize;
        return ha.AsSpan(0, sharedBlocks).SequenceEqual(hb.AsSpan(0, sharedBlocks));
    }

    [Property(MaxTest = 200)]
    public bool Equal_hash_at_a_position_means_equal_tokens_up_to_it(NonEmptyArray<int> tokens, int position, int replacement)
    {
        var hasher = new BlockHasher(4);
        int[] a = tokens.Get;
        if (a.Length < 4)
        {
            return true;
        }

        int at = Math.Abs(position % a.Length);
        if (a[at] == replacement)
        {
            return true;
        }

        int[] b = (int[])a.Clone();
        b[at] = replacement;
        ulong[] ha = hasher.Hash(a);
        ulong[] hb = hasher.Hash(b);
        int changedBlock = at / hasher.BlockSize;

        // Every block from the changed one on differs (chained); every block before it is equal.
        return Enumerable.Range(0, ha.Length).All(i => i < changedBlock ? ha[i] == hb[i] : ha[i] != hb[i]);
    }

    [Property(MaxTest = 200)]
    public bool Leading_equal_hashes_count_exactly_the_full_blocks_of_the_longest_common_token_prefix(int[] shared, NonEmptyArray<int> tailA, NonEmptyArray<int> tailB, PositiveInt blockSizeSeed)
    {
        // What prefix matching relies on: the walk over equal hashes stops exactly where the token sequences part.
        var hasher = new BlockHasher((blockSizeSeed.Get % 8) + 1);
        int[] a = [.. shared, .. tailA.Get];
        int[] b = [.. shared, .. tailB.Get];
        int common = 0;
        while (common < a.Length && common < b.Length && a[common] == b[common])
        {
            common++;
        }

        ulong[] ha = hasher.Hash(a);
        ulong[] hb = hasher.Hash(b);
        int equal = 0;
        while (equal < ha.Length && equal < hb.Length && ha[equal] == hb[equal])
        {
            equal++;
        }

        return equal == common / hasher.BlockSize;
    }

    [Property(MaxTest = 100)]
    public bool Hashing_a_prompt_equals_extending_the_chain_block_by_block(int[] tokens, PositiveInt blockSizeSeed, ulong seed)
    {
        // The KV-event view extends a stored block's hash with Next; it must land on the same values as the ingress's Hash.
        var hasher = new BlockHasher((blockSizeSeed.Get % 32) + 1, seed);
        ulong[] hashes = hasher.Hash(tokens);
        ulong previous = hasher.Seed;
        for (int i = 0; i < hashes.Length; i++)
        {
            previous = hasher.Next(previous, tokens.AsSpan(i * hasher.BlockSize, hasher.BlockSize));
            if (previous != hashes[i])
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public void A_partial_last_block_is_not_hashed()
    {
        var hasher = new BlockHasher(16);
        Assert.Equal(2, hasher.Hash(TestFleet.RandomTokens(47, 1)).Length);
        Assert.Equal(3, hasher.Hash(TestFleet.RandomTokens(48, 1)).Length);
        Assert.Empty(hasher.Hash(TestFleet.RandomTokens(15, 1)));
    }

    [Fact]
    public void Span_and_array_overloads_agree_with_the_documented_chain()
    {
        var hasher = new BlockHasher(16, seed: 7);
        int[] tokens = TestFleet.RandomTokens(64, 3);
        ulong[] hashes = hasher.Hash(tokens);
        ulong previous = hasher.Seed;
        for (int i = 0; i < hashes.Length; i++)
        {
            previous = hasher.Next(previous, tokens.AsSpan(i * 16, 16));
            Assert.Equal(previous, hashes[i]);
        }
    }

    [Fact]
    public void Different_seeds_give_different_chains()
    {
        int[] tokens = TestFleet.RandomTokens(32, 5);
        Assert.NotEqual(new BlockHasher(16, 1).Hash(tokens)[0], new BlockHasher(16, 2).Hash(tokens)[0]);
    }

    [Fact]
    public void Large_block_sizes_still_chain()
    {
        var hasher = new BlockHasher(1024);
        int[] tokens = TestFleet.RandomTokens(4096, 9);
        ulong[] hashes = hasher.Hash(tokens);
        Assert.Equal(4, hashes.Length);
        Assert.Equal(hasher.Next(hashes[0], tokens.AsSpan(1024, 1024)), hashes[1]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(BlockHasher.MaxBlockSize + 1)]
    public void Rejects_block_sizes_out_of_range(int blockSize)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new BlockHasher(blockSize));
        Assert.Contains("Block size", ex.Message);
    }

    [Fact]
    public void Rejects_a_destination_that_is_too_small()
    {
        var ex = Assert.Throws<ArgumentException>(() => BlockHasher.Default.Hash(TestFleet.RandomTokens(64, 1), new ulong[3]));
        Assert.Contains("4 blocks", ex.Message);
    }

    [Fact]
    public void Prompt_blocks_reject_hash_counts_that_do_not_match_the_token_count()
    {
        Assert.Throws<ArgumentException>(() => new PromptBlocks(new ulong[3], 47, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PromptBlocks(new ulong[0], -1, 16));
        Assert.Equal(2, new PromptBlocks(new ulong[2], 47, 16).BlockCount);
    }
}
