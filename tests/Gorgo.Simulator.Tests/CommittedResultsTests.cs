using System.Text.Json;
using System.Text.Json.Nodes;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>The committed simulated results are what today's code produces: a stale result fails here.</summary>
public class CommittedResultsTests
{
    /// <summary>Fields that measure the machine rather than the simulation.</summary>
    private static readonly string[] WallClockFields = ["wall_seconds", "events_per_s", "peak_memory_mib", "run_seconds", "parallel_runs"];

    [Theory]
    [InlineData("smoke.json", "smoke-sim")]
    [InlineData("paper-3region.json", "paper-3region-sim")]
    [InlineData("paper-setup.json", "paper-setup-sim")]
    [InlineData("faults-3region.json", "faults-3region-sim")]
    public void Simulating_a_scenario_reproduces_its_committed_summary_and_requests(string scenario, string result)
    {
        SimulationResult fresh = new Simulation(Scenario.Load(Paths.Scenario(scenario))).Run(null, null, CancellationToken.None);
        JsonNode expected = WithoutWallClock(JsonNode.Parse(File.ReadAllText(Paths.Results(result, "summary.json")))!);
        JsonNode actual = WithoutWallClock(JsonSerializer.SerializeToNode(fresh.Summary)!);

        Assert.True(
            JsonNode.DeepEquals(expected, actual),
            $"benchmarks/results/{result}/summary.json is stale: regenerate it with gorgo sim --scenario benchmarks/scenarios/{scenario} --out benchmarks/results/{result}. Now: {actual.ToJsonString()}");

        string directory = Directory.CreateTempSubdirectory("gorgo-committed").FullName;
        try
        {
            ResultsWriter.Write(directory, fresh.Summary, fresh.Records);
            Assert.Equal(File.ReadAllText(Paths.Results(result, "requests.csv")), File.ReadAllText(Path.Combine(directory, "requests.csv")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static JsonNode WithoutWallClock(JsonNode summary)
    {
        summary.AsObject().Remove("wall_seconds");
        if (summary["simulation"] is JsonObject simulation)
        {
            foreach (string field in WallClockFields)
            {
                simulation.Remove(field);
            }
        }

        return summary;
    }
}
