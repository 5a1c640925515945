using Gorgo.Bench.Live;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Tests;

/// <summary>The live harness end to end on the shipped smoke scenario: a mesh run and a proxy run.</summary>
public class SmokeBenchTests
{
    [Theory]
    [InlineData("{ \"name\": \"x\", \"policy\": \"oracle\" }")]
    [InlineData("{ \"name\": \"x\", \"consistency\": \"shared\" }")]
    [InlineData("{ \"name\": \"x\", \"cacheView\": \"exact\" }")]
    [InlineData("{ \"name\": \"x\", \"cacheView\": \"decisions\" }")]
    public async Task Runs_only_the_simulator_can_model_are_refused_before_anything_starts(string run)
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with { Runs = [System.Text.Json.JsonSerializer.Deserialize<RunSpec>(run, Scenario.JsonOptions)!] };
        var bench = new LiveBench(scenario, logging => logging.ClearProviders());

        ArgumentException ex = await Assert.ThrowsAsync<ArgumentException>(() => bench.RunAsync(null, null, CancellationToken.None));

        Assert.Contains("Run 'x'", ex.Message);
        Assert.Contains("only the simulator (gorgo sim) can run", ex.Message);
    }

    [Fact]
    public async Task The_smoke_scenario_runs_live_for_a_mesh_and_a_proxy_and_its_summary_is_self_consistent()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        var bench = new LiveBench(smoke, logging => logging.ClearProviders());
        var phases = new List<string>();
        var progress = new SynchronousProgress(p => phases.Add($"{p.Run}:{p.Phase}"));

        (BenchSummary summary, List<RequestRecord> records) = await bench.RunAsync(null, progress, CancellationToken.None);

        Assert.True(summary.Complete);
        Assert.Equal(["mesh-gorgo", "proxy-gorgo"], summary.Runs.Select(r => r.Name));
        Assert.Contains("mesh-gorgo:replaying", phases);
        foreach (RunSummary run in summary.Runs)
        {
            RequestRecord[] mine = records.Where(r => r.Run == run.Name).ToArray();
            Assert.Equal(240, run.Requests);
            Assert.Equal(run.Requests, mine.Length);
            Assert.Equal(Enumerable.Range(0, 240), mine.Select(r => r.Index).Order());
            Assert.Equal(run.Requests, run.Completed + run.Failed);
            Assert.Equal(run.Failed, run.FailuresByStatus.Values.Sum());
            Assert.All(mine.Where(r => !r.Completed), r => Assert.False(string.IsNullOrEmpty(r.Error)));
            Assert.True(run.Completed >= 230, $"{run.Name}: only {run.Completed} of 240 completed");
            Assert.True(run.TtftMs.P50 > 0 && run.TtftMs.P50 <= run.TtftMs.P90 && run.TtftMs.P90 <= run.TtftMs.P99);
            Assert.True(run.E2eMs.P50 >= run.TtftMs.P50);
            Assert.InRange(run.PrefixHitRate, 0.01, 1);
            Assert.InRange(run.CrossRegionFraction, 0, 1);
            Assert.Equal(run.Completed, run.ServedByRegion.Values.Sum());

            // Outcome metrics: the engines run in this process, so every completed request has its forecasts, and no
            // replica anywhere can beat the best one in the client's region by definition of "best".
            Assert.All(mine.Where(r => r.Completed), r =>
            {
                Assert.NotNull(r.BestForecastTtftMs);
                Assert.True(r.BestHomeForecastTtftMs is null || r.BestForecastTtftMs <= r.BestHomeForecastTtftMs);
                Assert.Equal(r.CrossRegion && r.TtftMs > r.BestHomeForecastTtftMs, r.HarmfulForward);
            });
            Assert.NotNull(run.HarmfulForwardFraction);
            Assert.NotNull(run.RegretMs);
        }

        Assert.Equal("gossip", summary.Runs[0].Consistency);
        Assert.Null(summary.Runs[1].Consistency);
    }

    private sealed class SynchronousProgress(Action<BenchProgress> report) : IProgress<BenchProgress>
    {
        private readonly object _gate = new();

        public void Report(BenchProgress value)
        {
            lock (_gate)
            {
                report(value);
            }
        }
    }
}
