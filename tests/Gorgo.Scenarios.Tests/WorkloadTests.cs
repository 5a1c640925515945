using Gorgo.Scenarios;
using Gorgo.Scenarios.Workload;
using Gorgo.Routing.Hashing;

namespace Gorgo.Scenarios.Tests;

public class WorkloadTests
{
    private static readonly string Mooncake = Paths.Data("traces", "mooncake-fast25", "conversation_trace.jsonl");

    [Fact]
    public void Mooncake_prompts_share_exactly_the_blocks_their_traces_share()
    {
        List<TraceRequest> trace = TraceReader.Read("mooncake", Mooncake, 60).ToList();
        var synthesizer = new PromptSynthesizer(7, new SharingSpec());
        int[][] prompts = trace.Select(r => synthesizer.FromBlocks(r.BlockIds!, r.InputTokens)).ToArray();
        var hasher = new BlockHasher(16);
        int pairsWithSharing = 0;
        for (int a = 0; a < trace.Count; a++)
        {
            Assert.Equal(trace[a].InputTokens, prompts[a].Length);
            for (int b = a + 1; b < trace.Count; b++)
            {
                int sharedIds = trace[a].BlockIds!.Zip(trace[b].BlockIds!).TakeWhile(p => p.First == p.Second).Count();
                int sharedTokens = prompts[a].Zip(prompts[b]).TakeWhile(p => p.First == p.Second).Count();
                int shorter = Math.Min(prompts[a].Length, prompts[b].Length);
                int expected = Math.Min(sharedIds * TraceReader.MooncakeBlockTokens, shorter);
                Assert.True(sharedTokens >= expected, $"requests {a} and {b} share {sharedIds} blocks but only {sharedTokens} tokens");
                Assert.True(sharedTokens < expected + TraceReader.MooncakeBlockTokens || expected == shorter, $"requests {a} and {b} share more tokens than blocks");
                if (sharedIds > 0)
                {
                    pairsWithSharing++;
                    int blocks = Math.Min(sharedTokens, shorter) / 16;
                    ulong[] ha = hasher.Hash(prompts[a]);
                    ulong[] hb = hasher.Hash(prompts[b]);
                    Assert.True(ha.AsSpan(0, blocks).SequenceEqual(hb.AsSpan(0, blocks)));
                }
            }
        }

        Assert.True(pairsWithSharing > 0, "the first 60 requests of the conversation trace share prefixes");
    }

    [Fact]
    public void The_smoke_workload_applies_first_n_time_scale_caps_and_is_deterministic()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("smoke.json"));
        IReadOnlyList<BenchRequest> a = WorkloadBuilder.Build(scenario).ToList();
        IReadOnlyList<BenchRequest> b = WorkloadBuilder.Build(scenario).ToList();

        Assert.Equal(240, a.Count);
        Assert.All(a, r => Assert.InRange(r.Prompt.Length, 1, 2048));
        Assert.All(a, r => Assert.InRange(r.OutputTokens, 1, 16));
        Assert.True(a.Zip(a.Skip(1)).All(p => p.First.ArrivalMs <= p.Second.ArrivalMs));
        Assert.InRange(a[^1].ArrivalMs, 1, TraceReader.Read("mooncake", Mooncake, 240).Last().ArrivalMs * 0.1 + 1);
        Assert.Equal(a.Select(r => (r.UserRegion, r.ArrivalMs, r.Prompt.Length)), b.Select(r => (r.UserRegion, r.ArrivalMs, r.Prompt.Length)));
        Assert.True(a.Zip(b).All(p => p.First.Prompt.SequenceEqual(p.Second.Prompt)));
        Assert.All(scenario.Regions, region => Assert.InRange(a.Count(r => r.UserRegion == region), 50, 110));
    }

    [Fact]
    public void A_rate_multiplier_replays_copies_with_their_own_prefixes()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario single = smoke with { Trace = smoke.Trace with { FirstN = 50 } };
        Scenario doubled = smoke with { Trace = smoke.Trace with { FirstN = 50, RateMultiplier = 2.0 } };
        IReadOnlyList<BenchRequest> once = WorkloadBuilder.Build(single).ToList();
        IReadOnlyList<BenchRequest> twice = WorkloadBuilder.Build(doubled).ToList();

        static int DistinctHeads(IReadOnlyList<BenchRequest> requests) => requests.Select(r => string.Join(',', r.Prompt.Take(16))).Distinct().Count();

        Assert.Equal(100, twice.Count);
        Assert.Equal(once[^1].ArrivalMs, twice.Max(r => r.ArrivalMs), 6);
        // Copies keep their trace's structure but not its blocks: every distinct first block appears once per copy.
        Assert.Equal(2 * DistinctHeads(once), DistinctHeads(twice));
    }

    [Fact]
    public void Azure_requests_get_group_prefixes_from_the_sharing_model()
    {
        var sharing = new SharingSpec { Groups = 2, ZipfExponent = 0, MinPrefixTokens = 100, MaxPrefixTokens = 100, MaxSharedFraction = 1.0 };
        var synthesizer = new PromptSynthesizer(3, sharing);
        int[][] prompts = Enumerable.Range(0, 20).Select(i => synthesizer.Synthetic(i, 300)).ToArray();
        int distinctHeads = prompts.Select(p => string.Join(',', p.Take(100))).Distinct().Count();
        Assert.InRange(distinctHeads, 1, 2);                                            // two groups at most
        Assert.Equal(20, prompts.Select(p => string.Join(',', p.Skip(100))).Distinct().Count()); // own tails
        List<TraceRequest> azure = TraceReader.Read("azure", Paths.Data("traces", "azure-llm-2023", "AzureLLMInferenceTrace_conv.csv"), 10).ToList();
        Assert.Equal(0, azure[0].ArrivalMs);
        Assert.Equal(374, azure[0].InputTokens);
        Assert.True(azure[1].ArrivalMs > 4_000);
    }

    [Fact]
    public void Malformed_traces_name_the_line_at_fault()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 1, \"hash_ids\": [1]}\n");
        try
        {
            var ex = Assert.Throws<ArgumentException>(() => TraceReader.Read("mooncake", path).ToList());
            Assert.Contains(":1:", ex.Message);
            Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => TraceReader.Read("mooncake", path + ".missing").ToList()).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("smoke.json")]
    [InlineData("azure")]
    public void Simulated_block_hashes_share_exactly_the_prefixes_that_live_token_prompts_share(string source)
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("smoke.json"));
        if (source == "azure")
        {
            scenario = scenario with { Trace = new TraceSpec { Kind = "azure", File = Paths.Data("traces", "azure-llm-2023", "AzureLLMInferenceTrace_conv.csv"), FirstN = 40, Sharing = new SharingSpec { Groups = 3 } } };
        }

        var hasher = new BlockHasher(16);
        var synthesizer = new PromptSynthesizer(scenario.Seed, scenario.Trace.Sharing);
        RequestShape[] shapes = WorkloadBuilder.Shapes(scenario).Take(40).ToArray();
        ulong[][] live = shapes.Select(r => hasher.Hash(synthesizer.Tokens(r))).ToArray();
        ulong[][] simulated = shapes.Select(r => synthesizer.Blocks(r, hasher).Hashes.ToArray()).ToArray();

        static int Common(ulong[] a, ulong[] b) => a.Zip(b).TakeWhile(p => p.First == p.Second).Count();
        int sharing = 0;
        for (int a = 0; a < shapes.Length; a++)
        {
            Assert.Equal(live[a].Length, simulated[a].Length);
            for (int b = a + 1; b < shapes.Length; b++)
            {
                Assert.Equal(Common(live[a], live[b]), Common(simulated[a], simulated[b]));
                sharing += Common(live[a], live[b]) > 0 ? 1 : 0;
            }
        }

        Assert.True(sharing > 0, "some prompts share a prefix");
    }
}
