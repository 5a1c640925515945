using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>
/// What each of the router's learned or late corrections buys, re-simulated deterministically on a shipped scenario:
/// the run with it has a lower mean TTFT than the same run without it (benchmarks/README.md has the figures).
/// </summary>
public sealed class FeatureOrderingSimTests
{
    [Theory]
    // Rebinding a forwarded request on arrival among the destination region's replicas (paper-3region, simulated).
    [InlineData("paper-3region.json", "mesh-gorgo", "mesh-gorgo-no-rebind")]
    // Learning per remote region what forwarded requests take beyond their estimates.
    [InlineData("paper-3region.json", "mesh-gorgo", "mesh-gorgo-no-transit-allowance")]
    // Relaying a forwarded request on, once, when the destination region turned out far worse than another's; on the
    // paper's three regions and on six AWS regions.
    [InlineData("paper-3region.json", "mesh-gorgo", "mesh-gorgo-no-relay")]
    [InlineData("aws-6region.json", "mesh-gorgo", "mesh-gorgo-no-relay")]
    // Online calibration, each node fitting the replicas it hosts, on engines slower than the routers are told: one
    // replica per region at half speed, and every replica at half the prefill speed. (Where the engines run as told, or
    // with calibration.json's unmodelled attention term, it costs a few per cent: benchmarks/README.md.)
    [InlineData("calibration-degraded.json", "mesh-gorgo-calibrated", "mesh-gorgo")]
    [InlineData("calibration.json", "mesh-gorgo-slow-calibrated", "mesh-gorgo-slow")]
    public void The_run_with_the_correction_has_a_lower_mean_ttft_than_the_same_run_without_it(string scenarioFile, string with, string without)
    {
        Scenario scenario = Scenario.Load(Paths.Scenario(scenarioFile));

        SimulationResult result = new Simulation(scenario).Run([with, without], null, CancellationToken.None);

        RunSummary corrected = result.Summary.Runs.Single(r => r.Name == with);
        RunSummary uncorrected = result.Summary.Runs.Single(r => r.Name == without);
        Assert.Equal((corrected.Requests, uncorrected.Requests), (corrected.Completed, uncorrected.Completed));
        Assert.True(corrected.Completed >= 400, $"{corrected.Completed} requests completed");
        Assert.True(corrected.TtftMs.Mean < uncorrected.TtftMs.Mean, $"{with} {corrected.TtftMs.Mean:F0} ms, {without} {uncorrected.TtftMs.Mean:F0} ms (mean)");
    }
}
