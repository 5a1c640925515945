using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>The routers' learned transit allowance, simulated on the paper's setting, where regions' bursts coincide.</summary>
public sealed class TransitAllowanceSimTests
{
    [Fact]
    public void Learning_what_forwarded_requests_take_beyond_their_estimates_lowers_gorgos_mean_ttft()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("paper-3region.json"));

        SimulationResult result = new Simulation(scenario).Run(["mesh-gorgo", "mesh-gorgo-no-transit-allowance"], null, CancellationToken.None);

        RunSummary with = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo");
        RunSummary without = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-no-transit-allowance");
        Assert.Equal((400, 400), (with.Completed, without.Completed));
        Assert.True(with.TtftMs.Mean < without.TtftMs.Mean, $"with {with.TtftMs.Mean:F0} ms, without {without.TtftMs.Mean:F0} ms (mean)");
    }
}
