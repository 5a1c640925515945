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
    public async Task A_live_run_with_faults_keeps_the_in_process_cache_view()
    {
        Scenario faults = Scenario.Load(Paths.Scenario("faults-smoke.json"));
        Scenario scenario = faults with { Runs = [new RunSpec { Name = "x", CacheView = CacheViewMode.Exact }] };

        ArgumentException ex = await Assert.ThrowsAsync<ArgumentException>(() => new LiveBench(scenario, logging => logging.ClearProviders()).RunAsync(null, null, CancellationToken.None));

        Assert.Contains("its cacheView must be hybrid", ex.Message);
    }

    [Fact]
    public async Task A_live_run_with_exact_views_serves_from_replica_servers_whose_kv_events_the_nodes_follow()
    {
        // Smoke's first 80 requests, once with engines reached over HTTP and followed through their KV events.
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with
        {
            Trace = smoke.Trace with { FirstN = 80 },
            Runs = [new RunSpec { Name = "mesh-exact", Mode = DeploymentMode.Mesh, Policy = "gorgo", CacheView = CacheViewMode.Exact }],
        };

        (BenchSummary summary, List<RequestRecord> records) = await new LiveBench(scenario, logging => logging.ClearProviders()).RunAsync(null, null, CancellationToken.None);

        RunSummary run = Assert.Single(summary.Runs);
        Assert.True(summary.Complete);
        Assert.Equal(80, run.Requests);
        Assert.True(run.Completed >= 76, $"only {run.Completed} of 80 completed");
        string[] replicas = [.. scenario.Regions.SelectMany(scenario.ReplicaIds)];
        Assert.All(records.Where(r => r.Completed), r => Assert.Contains(r.Replica, replicas));

        // The nodes learn nothing from their own decisions under an exact view: a prefix they matched was one the
        // engines reported through their KV events.
        Assert.Contains(records, r => r.MatchedTokens > 0);
        Assert.InRange(run.PrefixHitRate, 0.01, 1);
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
