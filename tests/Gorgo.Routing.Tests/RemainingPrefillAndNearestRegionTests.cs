using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;

namespace Gorgo.Routing.Tests;

public class RemainingPrefillAndNearestRegionTests
{
    [Fact]
    public void A_reported_remaining_prefill_replaces_the_running_work_fraction()
    {
        var model = new CostModel(new CostModelOptions { RunningWorkFraction = 0.5, FixedOverheadMs = 0 });
        var inputs = new CostInputs(RttMs: 0, ClientLegMs: 0, QueuedTokens: 1_000, RunningTokens: 10_000, UncachedTokens: 0, PrefillMsPerToken: 0.1, Degraded: false);
        Assert.Equal(0.1 * (1_000 + 5_000), model.Estimate(inputs).QueueMs, 9);                                 // the paper's q̂ × running tokens
        Assert.Equal(0.1 * (1_000 + 200), model.Estimate(inputs with { RunningPrefillTokens = 200 }).QueueMs, 9); // exactly what is left to prefill
        Assert.Equal(0.1 * 1_000, model.Estimate(inputs with { RunningPrefillTokens = 0 }).QueueMs, 9);          // running requests only decode
    }

    [Fact]
    public void A_router_limited_to_its_nearest_regions_never_chooses_beyond_them()
    {
        RttMatrix rtt = RttMatrix.FromPairs([("a", "b", 10), ("a", "c", 50), ("a", "d", 200), ("b", "c", 40), ("b", "d", 190), ("c", "d", 150)]);
        var router = new Router(new RouterOptions { Region = "a", Policy = new() { Name = "least-load" }, NearestRegions = 2 }, rtt);
        long now = router.NowMs;
        foreach ((string id, string region, int queued) in new[] { ("a1", "a", 50), ("b1", "b", 40), ("c1", "c", 0), ("d1", "d", 0) })
        {
            router.Upsert(new ReplicaView { Id = id, Region = region, Model = "m", QueuedRequests = queued, QueuedTokens = queued * 100, PrefillMsPerToken = 0.1, TakenAtMs = now });
        }

        var prompt = PromptBlocks.FromTokens(Enumerable.Range(0, 64).ToArray(), new BlockHasher(16));
        var decision = router.Route(new RoutingRequest(prompt));
        Assert.Equal("b1", decision.Chosen.ReplicaId);                          // c1 and d1 are idle but not among a's two nearest regions
        Assert.Equal(["a1", "b1"], decision.Candidates.Select(c => c.ReplicaId).Order());
    }

    [Fact]
    public void Replacing_a_summary_moves_only_the_difference_and_keeps_other_replicas()
    {
        var index = new PrefixIndex();
        index.Register("x");
        index.Register("y");
        index.Record(index.Register("y"), [1, 2, 3]);
        index.Apply(new PrefixSummary("x", [1, 2, 3, 4]), PrefixMergeMode.Replace);
        index.Apply(new PrefixSummary("x", [1, 2, 5]), PrefixMergeMode.Replace);

        Assert.Equal(2, index.MatchedBlocks("x", [1, 2, 3]));
        Assert.Equal(3, index.MatchedBlocks("y", [1, 2, 3]));
        Assert.Equal([1UL, 2, 5], index.Summarize("x").Hashes);
        Assert.Equal(4, index.DistinctBlocks);                                 // 1, 2, 3 (y and x), 5 (x); 4 is gone
        index.Apply(new PrefixSummary("x", [1, 2, 5]), PrefixMergeMode.Replace); // unchanged: a no-op
        Assert.Equal([1UL, 2, 5], index.Summarize("x").Hashes);
    }

    [Fact]
    public void Replacing_a_summary_kept_in_its_own_set_leaves_the_shared_map_to_other_replicas()
    {
        var index = new PrefixIndex(new PrefixIndexOptions { OwnSets = PrefixOwnSets.Summarized });
        index.Record(index.Register("y"), [1, 2, 3]);
        index.Apply(new PrefixSummary("x", [1, 2, 3, 4]), PrefixMergeMode.Replace);
        index.Apply(new PrefixSummary("x", [1, 2, 5]), PrefixMergeMode.Replace);

        Assert.Equal([1UL, 2, 5], index.Summarize("x").Hashes);
        Assert.Equal(3, index.DistinctBlocks);                                 // 1, 2, 3 of y; x keeps its own set
        var matched = new int[index.SlotCapacity];
        Assert.Equal(3, index.Match([1, 2, 5], matched));                      // one walk answers for both layouts
        Assert.Equal(3, matched[index.SlotOf("x")]);
        Assert.Equal(2, matched[index.SlotOf("y")]);
        Assert.Equal(0, index.Match([4], matched));                            // 4 is gone
    }

    [Fact]
    public void Nearest_regions_are_the_closest_by_rtt_and_a_returned_mask_is_the_callers_own()
    {
        var rtt = RttMatrix.Create(["a", "b", "c", "d"], new double[,] { { 1, 50, 10, 90 }, { 50, 1, 40, 60 }, { 10, 40, 1, 30 }, { 90, 60, 30, 1 } });

        bool[] mask = rtt.NearestMask(rtt.IndexOf("a"), 2);
        Assert.Equal([true, false, true, false], mask);                 // itself, then c (10 ms)
        mask[1] = true;                                                   // changing the copy changes nothing
        Assert.False(rtt.IsNear("a", "b", 2));
        Assert.True(rtt.IsNear("a", "c", 2));
        Assert.True(rtt.IsNear("d", "c", 2));
        Assert.True(rtt.IsNear("a", "d", 0));                            // 0: every region
        Assert.Throws<ArgumentException>(() => rtt.IsNear("a", "nowhere", 2));
    }
}
