using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>Online calibration of the cost model, simulated on the calibration scenario (the paper's setting).</summary>
public sealed class CalibrationSimTests
{
    [Fact]
    public void Calibrating_online_lowers_gorgos_mean_ttft_when_engines_run_unlike_the_routers_model()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("calibration.json"));

        SimulationResult result = new Simulation(scenario).Run(["mesh-gorgo-mismatch", "mesh-gorgo-mismatch-calibrated"], null, CancellationToken.None);

        RunSummary fixedModel = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-mismatch");
        RunSummary calibrated = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-mismatch-calibrated");
        Assert.Equal((400, 400), (fixedModel.Completed, calibrated.Completed));
        Assert.True(calibrated.TtftMs.Mean < fixedModel.TtftMs.Mean, $"calibrated {calibrated.TtftMs.Mean:F0} ms, fixed {fixedModel.TtftMs.Mean:F0} ms");
    }
}
