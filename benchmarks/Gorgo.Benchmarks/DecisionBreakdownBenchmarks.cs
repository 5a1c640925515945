using BenchmarkDotNet.Attributes;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Hashing;

namespace Gorgo.Benchmarks;

/// <summary>
/// Where the headline decision's time goes (64 replicas, 8k-token prompt): hashing the prompt's 512 blocks, deciding
/// from block hashes, and deciding without recording the routed prompt in the prefix index.
/// </summary>
[MemoryDiagnoser]
public class DecisionBreakdownBenchmarks
{
    private BenchmarkFleet _fleet = null!;
    private BenchmarkFleet _notLearning = null!;
    private PromptBlocks _blocks;

    [GlobalSetup]
    public void Setup()
    {
        _fleet = BenchmarkFleet.Create("gorgo", replicas: 64, promptTokens: 8_192);
        _notLearning = BenchmarkFleet.Create("gorgo", replicas: 64, promptTokens: 8_192, learn: false);
        _blocks = PromptBlocks.FromTokens(_fleet.PromptTokens, _fleet.Encoder.Hasher);
    }

    /// <summary>Chained XxHash64 of the 512 16-token blocks.</summary>
    [Benchmark]
    public int HashBlocks() => _fleet.Encoder.Hasher.Hash(_fleet.PromptTokens, _fleet.HashBuffer);

    /// <summary>The decision from already-hashed blocks, including recording the prompt on the chosen replica.</summary>
    [Benchmark]
    public RoutingDecision DecideFromHashes() => _fleet.Router.Route(new RoutingRequest(_blocks, "llama-3-8b"));

    /// <summary>The decision from already-hashed blocks, with <c>LearnFromDecisions</c> off.</summary>
    [Benchmark]
    public RoutingDecision DecideFromHashesWithoutLearning() => _notLearning.Router.Route(new RoutingRequest(_blocks, "llama-3-8b"));
}
