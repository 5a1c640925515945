using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>Rebinding forwarded requests on arrival, simulated on the paper's setting, where regions' bursts coincide.</summary>
public sealed class RebindOnArrivalSimTests
{
    [Fact]
    public void Rerouting_forwarded_requests_among_the_destinations_replicas_on_arrival_lowers_gorgos_mean_ttft()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("paper-3region.json"));

        SimulationResult result = new Simulation(scenario).Run(["mesh-gorgo", "mesh-gorgo-no-rebind"], null, CancellationToken.None);

        RunSummary rebound = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo");
        RunSummary asSent = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-no-rebind");
        Assert.Equal((400, 400), (rebound.Completed, asSent.Completed));
        Assert.True(rebound.TtftMs.Mean < asSent.TtftMs.Mean, $"rebound {rebound.TtftMs.Mean:F0} ms, as sent {asSent.TtftMs.Mean:F0} ms (mean)");
    }
}
