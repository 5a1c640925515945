using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tests;

public class TraceBlocksTests
{
    private static readonly BlockHasher Hasher = new(16);

    [Fact]
    public void Trace_prompts_with_equal_leading_ids_share_exactly_those_blocks()
    {
        // As in the Mooncake conversation trace: two prompts that share their first 512-token block only.
        PromptBlocks a = TraceBlocks.FromTraceIds([0, 1, 2], 1500, Hasher);
        PromptBlocks b = TraceBlocks.FromTraceIds([0, 14, 15], 1400, Hasher);
        ulong[] ha = a.Hashes.ToArray();
        ulong[] hb = b.Hashes.ToArray();
        int shared = 512 / 16;
        Assert.True(ha.AsSpan(0, shared).SequenceEqual(hb.AsSpan(0, shared)));
        Assert.NotEqual(ha[shared], hb[shared]);
    }

    [Fact]
    public void Trace_prompt_has_one_hash_per_full_router_block_including_a_partial_trace_block()
    {
        PromptBlocks blocks = TraceBlocks.FromTraceIds([10, 11], 700, Hasher);
        Assert.Equal(700, blocks.TokenCount);
        Assert.Equal(700 / 16, blocks.BlockCount);
    }

    [Fact]
    public void Same_ids_at_different_positions_do_not_collide()
    {
        PromptBlocks a = TraceBlocks.FromTraceIds([5, 5], 1024, Hasher);
        Assert.Equal(a.BlockCount, a.Hashes.ToArray().Distinct().Count());
    }

    [Theory]
    [InlineData(new ulong[] { 1 }, 600)]
    [InlineData(new ulong[] { 1, 2, 3 }, 600)]
    public void Rejects_an_id_count_that_does_not_match_the_length(ulong[] ids, int length)
    {
        var ex = Assert.Throws<ArgumentException>(() => TraceBlocks.FromTraceIds(ids, length, Hasher));
        Assert.Contains("needs 2 block ids", ex.Message);
    }

    [Fact]
    public void Rejects_a_trace_block_size_that_is_not_a_multiple_of_the_router_block_size()
    {
        Assert.Throws<ArgumentException>(() => TraceBlocks.FromTraceIds([1], 100, Hasher, traceBlockSize: 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => TraceBlocks.FromTraceIds([], 0, Hasher));
    }
}
