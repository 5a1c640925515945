using BenchmarkDotNet.Attributes;
using Gorgo.Routing.Decisions;

namespace Gorgo.Benchmarks;

/// <summary>Decision time of every policy at 8, 64 and 512 replicas for 2k- and 8k-token prompts, pre-tokenized and from text.</summary>
[MemoryDiagnoser]
public class PolicyDecisionBenchmarks
{
    private BenchmarkFleet _fleet = null!;

    [Params("round-robin", "random", "least-load", "prefix", "power-of-two", "gorgo")]
    public string Policy { get; set; } = "gorgo";

    [Params(8, 64, 512)]
    public int Replicas { get; set; }

    [Params(2_048, 8_192)]
    public int PromptTokens { get; set; }

    [GlobalSetup]
    public void Setup() => _fleet = BenchmarkFleet.Create(Policy, Replicas, PromptTokens);

    /// <summary>Token ids given: hash blocks and decide.</summary>
    [Benchmark(Baseline = true)]
    public RoutingDecision PreTokenized() => _fleet.RoutePreTokenized();

    /// <summary>Text given: tokenize (cl100k_base), hash blocks and decide.</summary>
    [Benchmark]
    public RoutingDecision WithTokenization() => _fleet.RouteText();
}
