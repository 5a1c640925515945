using BenchmarkDotNet.Attributes;
using Gorgo.Routing.Decisions;

namespace Gorgo.Benchmarks;

/// <summary>
/// The headline number tracked release after release: one <c>gorgo</c> decision over 64 replicas in 3 regions with
/// realistic loads and warm caches, for an 8k-token pre-tokenized prompt (block hashing included). Target: under 20 µs,
/// allocating nothing beyond the decision record.
/// </summary>
[MemoryDiagnoser]
public class GorgoDecisionBenchmark
{
    private BenchmarkFleet _fleet = null!;

    [GlobalSetup]
    public void Setup() => _fleet = BenchmarkFleet.Create("gorgo", replicas: 64, promptTokens: 8_192);

    [Benchmark]
    public RoutingDecision Gorgo64Replicas8kTokens() => _fleet.RoutePreTokenized();
}
