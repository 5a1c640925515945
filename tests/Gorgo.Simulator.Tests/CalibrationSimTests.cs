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

        // Without the transit allowance, which learns from the same residuals of forwarded requests: with it on, the two
        // together overcorrect on this scenario (benchmarks/README.md, "Online calibration").
        SimulationResult result = new Simulation(scenario).Run(["mesh-gorgo-mismatch-no-allowance", "mesh-gorgo-mismatch-calibrated-no-allowance"], null, CancellationToken.None);

        RunSummary fixedModel = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-mismatch-no-allowance");
        RunSummary calibrated = result.Summary.Runs.Single(r => r.Name == "mesh-gorgo-mismatch-calibrated-no-allowance");
        Assert.Equal((400, 400), (fixedModel.Completed, calibrated.Completed));
        Assert.True(calibrated.TtftMs.Mean < fixedModel.TtftMs.Mean, $"calibrated {calibrated.TtftMs.Mean:F0} ms, fixed {fixedModel.TtftMs.Mean:F0} ms");
    }
}
