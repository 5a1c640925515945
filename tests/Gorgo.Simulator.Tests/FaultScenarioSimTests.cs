using Gorgo.Scenarios;

namespace Gorgo.Simulator.Tests;

public class FaultScenarioSimTests
{
    [Fact]
    public void The_simulator_refuses_a_scenario_with_faults_rather_than_ignoring_them()
    {
        var simulation = new Simulation(Scenario.Load(Paths.Scenario("faults-smoke.json")));
        ArgumentException ex = Assert.Throws<ArgumentException>(() => simulation.Run(null, null, CancellationToken.None));
        Assert.Contains("gorgo bench", ex.Message, StringComparison.Ordinal);
    }
}
