using Gorgo.Routing;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>Outcome-measured harm and regret, local-first scopes and engines the routers misjudge, in the simulator.</summary>
public class OutcomeMetricsTests
{
    private static readonly Dictionary<string, Dictionary<string, double>> TwoRegions = new()
    {
        ["near"] = new() { ["near"] = 2, ["far"] = 300 },
        ["far"] = new() { ["far"] = 2 },
    };

    [Fact]
    public void Every_run_reports_regret_and_harm_and_the_oracles_regret_is_the_lowest()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with
        {
            Trace = smoke.Trace with { FirstN = 120 },
            Runs =
            [
                new() { Name = "least-load", Policy = "least-load" },
                new() { Name = "least-load-local-first", Policy = "least-load", Scope = RoutingScope.LocalFirst },
                new() { Name = "gorgo", Policy = "gorgo" },
                new() { Name = "proxy", Mode = DeploymentMode.Proxy, Policy = "gorgo" },
            ],
        };

        SimulationResult result = new Simulation(scenario).Run(null, null, CancellationToken.None);

        List<RunSummary> runs = result.Summary.Runs;
        Assert.All(runs, r => Assert.NotNull(r.RegretMs));
        Assert.All(runs, r => Assert.NotNull(r.HarmfulForwardFraction));
        RunSummary oracle = runs.Single(r => r.Name == Simulation.OracleName);
        Assert.All(runs.Where(r => r != oracle), r => Assert.True(oracle.RegretMs!.Mean <= r.RegretMs!.Mean, $"oracle {oracle.RegretMs!.Mean} vs {r.Name} {r.RegretMs!.Mean}"));
        Assert.Equal("local-first", runs.Single(r => r.Name == "least-load-local-first").Scope);
        Assert.Equal("global", runs.Single(r => r.Name == "least-load").Scope);

        // Per request: regret is realized minus best forecast, harm a cross-region request slower than the best home forecast.
        RequestRecord record = result.Records!.First(r => r.Run == "least-load" && r.Completed && r.CrossRegion);
        Assert.Equal(record.TtftMs!.Value - record.BestForecastTtftMs!.Value, record.RegretMs!.Value, 6);
        Assert.Equal(record.TtftMs > record.BestHomeForecastTtftMs, record.HarmfulForward);
    }

    [Fact]
    public void Without_forecasts_the_outcome_figures_are_null_not_zero()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with { Trace = smoke.Trace with { FirstN = 30 }, Sim = smoke.Sim with { OutcomeMetrics = false } };

        List<RunSummary> runs = new Simulation(scenario).Run(null, null, CancellationToken.None).Summary.Runs;

        Assert.All(runs, r => Assert.Null(r.RegretMs));
        Assert.All(runs, r => Assert.Null(r.HarmfulForwardFraction));
    }

    [Fact]
    public void Local_first_serves_at_home_until_every_home_replica_is_full()
    {
        // A burst of 40 requests at once: one near replica (64 batch slots) takes them all locally first.
        using var tiny = new TinyScenario();
        ulong next = 1;
        var lines = Enumerable.Range(0, 40).Select(i => new TinyScenario.Line(i, 600, 8, TinyScenario.Ids(600, [], ref next))).ToList();
        Scenario scenario = tiny.With(lines, TwoRegions, [new() { Name = "global", Policy = "least-load" }, new() { Name = "local-first", Policy = "least-load", Scope = RoutingScope.LocalFirst }], users: new() { ["near"] = 1 });

        List<RunSummary> runs = new Simulation(scenario).Run(null, null, CancellationToken.None).Summary.Runs;

        Assert.Equal(0, runs.Single(r => r.Name == "local-first").CrossRegionFraction);
        Assert.True(runs.Single(r => r.Name == "global").CrossRegionFraction > 0.3); // least-load spreads over both
    }

    [Fact]
    public void Engines_running_a_profile_the_routers_do_not_know_are_slower_than_estimated()
    {
        using var tiny = new TinyScenario();
        ulong next = 1;
        var lines = Enumerable.Range(0, 30).Select(i => new TinyScenario.Line(i * 200, 4_000, 8, TinyScenario.Ids(4_000, [], ref next))).ToList();
        Scenario scenario = tiny.With(lines, TwoRegions, [new() { Name = "known", Policy = "gorgo" }, new() { Name = "mismatch", Policy = "gorgo", TrueProfile = "a100-7b" }], users: new() { ["near"] = 1 });

        List<RunSummary> runs = new Simulation(scenario).Run(null, null, CancellationToken.None).Summary.Runs;

        RunSummary known = runs.Single(r => r.Name == "known");
        RunSummary mismatch = runs.Single(r => r.Name == "mismatch"); // told h100-8b (0.030 ms/token), running a100-7b (0.094)
        Assert.True(mismatch.TtftMs.Mean > 2 * known.TtftMs.Mean, $"{mismatch.TtftMs.Mean} vs {known.TtftMs.Mean}");
        Assert.True(mismatch.EstimateErrorMs!.P50 > 100, $"estimate error P50 {mismatch.EstimateErrorMs!.P50} ms");
        Assert.True(Math.Abs(known.EstimateErrorMs!.P50) < mismatch.EstimateErrorMs!.P50);
    }
}
