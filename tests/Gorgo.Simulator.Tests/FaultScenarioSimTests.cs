using System.Text.Json;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>The simulator models a scenario's faults as the live mesh meets them, deterministically.</summary>
public class FaultScenarioSimTests
{
    private static SimulationResult Simulate(Scenario scenario) => new Simulation(scenario).Run(null, null, CancellationToken.None);

    [Fact]
    public void Simulated_faults_lose_only_streams_whose_own_node_was_killed_and_are_measured_like_live_ones()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("faults-smoke.json"));
        SimulationResult result = Simulate(scenario);

        RunSummary run = Assert.Single(result.Summary.Runs); // no oracle: it knows no faults
        IReadOnlyList<RequestRecord> records = result.Records!;
        IReadOnlyList<FaultOutcome> faults = run.Faults!;
        Assert.Equal(scenario.Faults.Count, faults.Count);
        Assert.Equal(Scenarios.Workload.WorkloadBuilder.ExpectedCount(scenario), records.Count);
        Assert.Equal(run.Lost, faults.Sum(f => f.InFlightLostAtKilledEntry));
        Assert.All(records.Where(r => r.EffectiveEnding.IsLost()), r => Assert.Equal("eu-central", r.EntryRegion));
        Assert.All(records.Where(r => r.EffectiveEnding == StreamEnding.Cut), r => Assert.NotNull(r.TtftMs)); // cut after their first token
        Assert.Equal(0, faults.Single(f => f.Kind == "stop-node").InFlightLost);
        Assert.Equal(0, faults.Single(f => f.Kind == "fail-replica").InFlightLost);

        // Survivors stop routing there once the failure is detected (3 s), restarted nodes serve after starting (3 s).
        Assert.InRange(run.DeadRoutedAfterMs!.Value, 0, scenario.Sim.FailureDetectionMs + 1_000);
        Assert.InRange(run.RejoinedAfterMs!.Value, scenario.Sim.NodeStartMs, scenario.Sim.NodeStartMs + 5_000);

        // While eu-central's node is down its users are served through another node.
        double down = faults.Single(f => f.Kind == "kill-node").AtMs;
        double up = faults.Single(f => f.Kind == "restart-node" && f.Target == "eu-central").AtMs + scenario.Sim.NodeStartMs;
        RequestRecord[] meanwhile = records.Where(r => r.UserRegion == "eu-central" && r.ArrivalMs > down && r.ArrivalMs < up).ToArray();
        Assert.NotEmpty(meanwhile);
        Assert.All(meanwhile, r => Assert.NotEqual("eu-central", r.EntryRegion));
        Assert.True(run.Completed >= records.Count * 0.95, $"{run.Completed} of {records.Count} completed");
    }

    [Fact]
    public void A_failing_replica_sends_its_unstarted_work_elsewhere_and_ends_its_streams_with_an_error_event()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("smoke.json")) with
        {
            Runs = [new RunSpec { Name = "mesh-gorgo", Mode = DeploymentMode.Mesh, Policy = "gorgo" }],
            Faults = [new FaultSpec { AtSeconds = 6, Kind = FaultKind.FailReplica, Target = "us-east-1" }],
        };

        SimulationResult result = Simulate(scenario);

        RunSummary run = Assert.Single(result.Summary.Runs);
        FaultOutcome fail = Assert.Single(run.Faults!);
        Assert.True(fail.InFlight > 0, "the replica was busy when it failed");
        Assert.Equal(fail.InFlight, fail.InFlightCompleted + fail.InFlightFailedCleanly);
        Assert.Equal(0, run.Lost);
        Assert.True(run.Retried > 0);
        Assert.Contains(result.Records!, r => r.Completed && r.TriedReplicas.Contains("us-east-1"));
        Assert.DoesNotContain(result.Records!, r => r.Completed && r.Replica == "us-east-1" && r.ArrivalMs > 6_500);
    }

    [Fact]
    public void Simulating_faults_twice_gives_the_same_results()
    {
        Scenario scenario = Scenario.Load(Paths.Scenario("faults-smoke.json"));
        string first = JsonSerializer.Serialize(Simulate(scenario).Summary.Runs);
        string second = JsonSerializer.Serialize(Simulate(scenario).Summary.Runs);
        Assert.Equal(first, second);
    }
}
