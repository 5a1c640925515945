using System.Text.Json;
using Gorgo.Scenarios.Results;
using Gorgo.Mesh.Core;
using Gorgo.Routing.Index;
using Gorgo.Scenarios;

namespace Gorgo.Simulator.Tests;

public class SimulationTests
{
    private static readonly Dictionary<string, Dictionary<string, double>> TwoRegions = new()
    {
        ["near"] = new() { ["near"] = 2, ["far"] = 300 },
        ["far"] = new() { ["far"] = 2 },
    };

    [Fact]
    public void The_same_scenario_and_seed_give_byte_identical_runs()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        string a = JsonSerializer.Serialize(new Simulation(smoke).Run(null, null, CancellationToken.None, parallelism: 2).Summary.Runs);
        string b = JsonSerializer.Serialize(new Simulation(smoke).Run(null, null, CancellationToken.None, parallelism: 1).Summary.Runs);
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("smoke.json")]
    [InlineData("paper-3region.json")]
    public void Handling_zero_delay_events_at_once_changes_no_result_and_no_event_count(string scenario)
    {
        Scenario loaded = Scenario.Load(Paths.Scenario(scenario));
        BenchSummary atOnce = new Simulation(loaded).Run(null, null, CancellationToken.None).Summary;
        BenchSummary throughHeap = new Simulation(loaded) { HandleDueEventsAtOnce = false }.Run(null, null, CancellationToken.None).Summary;

        Assert.Equal(JsonSerializer.Serialize(throughHeap.Runs), JsonSerializer.Serialize(atOnce.Runs));
        Assert.Equal(throughHeap.Simulation!.Events, atOnce.Simulation!.Events);
    }

    [Fact]
    public void Every_run_of_the_smoke_scenario_accounts_for_every_request_and_the_oracle_is_added()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        SimulationResult result = new Simulation(smoke).Run(null, null, CancellationToken.None);

        Assert.True(result.Summary.Simulated);
        Assert.Equal(["mesh-gorgo", "proxy-gorgo", "oracle"], result.Summary.Runs.Select(r => r.Name));
        Assert.All(result.Summary.Runs, r => Assert.Equal((240, 240, 0), (r.Requests, r.Completed, r.Failed)));
        Assert.Equal(3 * 240, result.Records!.Count);
        Assert.All(result.Summary.Runs, r => Assert.True(r.TtftMs.P50 > 0 && r.TtftMs.P50 <= r.TtftMs.P90 && r.TtftMs.P90 <= r.TtftMs.P99));
        Assert.True(result.Summary.Runs[0].GossipBytesPerNodePerS > 0);
        Assert.Null(result.Summary.Runs[1].GossipBytesPerNodePerS);
        Assert.Equal("exact", result.Summary.Runs[2].Consistency);
        Assert.True(result.Summary.Simulation!.Events > 0);
        Assert.Equal(["mesh-gorgo", "proxy-gorgo", "oracle"], result.Summary.Simulation.RunSeconds!.Keys); // wall time per run, outside runs
        Assert.All(result.Summary.Simulation.RunSeconds.Values, s => Assert.InRange(s, 0, result.Summary.WallSeconds + 0.1));
    }

    [Fact]
    public void An_empty_trace_and_a_one_request_trace_simulate()
    {
        using var tiny = new TinyScenario();
        List<RunSpec> runs = [new() { Name = "gorgo", Policy = "gorgo" }, new() { Name = "proxy", Mode = DeploymentMode.Proxy, Policy = "gorgo" }];

        SimulationResult empty = new Simulation(tiny.With([], TwoRegions, runs)).Run(null, null, CancellationToken.None);
        Assert.All(empty.Summary.Runs, r => Assert.Equal((0, 0), (r.Requests, r.Completed)));

        SimulationResult one = new Simulation(tiny.With([new(0, 1_000, 4, 1, 2)], TwoRegions, runs, users: new() { ["near"] = 1 })).Run(null, null, CancellationToken.None);
        Assert.All(one.Summary.Runs, r => Assert.Equal((1, 1), (r.Requests, r.Completed)));
        RunSummary mesh = one.Summary.Runs[0];
        Assert.Equal(0, mesh.CrossRegionFraction);
        // An idle h100-8b prefills 1,000 tokens in about 5.6 + 30 ms; the mesh serves the client in its own region.
        Assert.InRange(mesh.TtftMs.Mean, 30, 60);
    }

    [Fact]
    public void A_saturated_fleet_queues_everything_and_loses_nothing()
    {
        using var tiny = new TinyScenario();
        ulong next = 1;
        var lines = Enumerable.Range(0, 300).Select(i => new TinyScenario.Line(i, 4_000, 32, TinyScenario.Ids(4_000, [], ref next))).ToList();
        var oneRegion = new Dictionary<string, Dictionary<string, double>> { ["solo"] = new() { ["solo"] = 1 } };
        Scenario scenario = tiny.With(lines, oneRegion, [new() { Name = "gorgo", Policy = "gorgo" }, new() { Name = "least-load", Policy = "least-load" }]);

        SimulationResult result = new Simulation(scenario).Run(null, null, CancellationToken.None);

        foreach (RunSummary run in result.Summary.Runs)
        {
            Assert.Equal(300, run.Requests);
            Assert.Equal(run.Requests, run.Completed + run.Failed);
            Assert.Equal(300, run.Completed);
            // 300 prompts of 4,000 tokens arrive within 0.3 s on one replica that prefills about 8,000 tokens per 250 ms:
            // the last waits for nearly all the others.
            Assert.True(run.TtftMs.P50 > 5_000 && run.TtftMs.P99 > 1.5 * run.TtftMs.P50, $"{run.Name}: P50 {run.TtftMs.P50}, P99 {run.TtftMs.P99}");
        }
    }

    [Fact]
    public void The_oracle_is_never_worse_in_mean_ttft_than_any_policy_on_a_small_scenario()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with
        {
            Trace = smoke.Trace with { FirstN = 120 },
            Runs =
            [
                new() { Name = "least-load", Policy = "least-load" },
                new() { Name = "prefix", Policy = "prefix" },
                new() { Name = "gorgo", Policy = "gorgo" },
                new() { Name = "gorgo-sync", Policy = "gorgo", Consistency = ConsistencyMode.Sync },
                new() { Name = "proxy", Mode = DeploymentMode.Proxy, Policy = "gorgo" },
            ],
        };

        List<RunSummary> runs = new Simulation(scenario).Run(null, null, CancellationToken.None).Summary.Runs;

        RunSummary oracle = runs.Single(r => r.Name == Simulation.OracleName);
        Assert.All(runs.Where(r => r != oracle), r => Assert.True(oracle.TtftMs.Mean <= r.TtftMs.Mean, $"oracle {oracle.TtftMs.Mean} vs {r.Name} {r.TtftMs.Mean}"));
    }

    [Fact]
    public void Gorgo_beats_least_load_when_the_other_region_is_far_away()
    {
        // Users are all near; one replica near and one 300 ms away. A request every 60 ms finds the near replica still
        // busy with the previous one (about 50 ms of prefill, then decoding): least-load sends it across the ocean to the
        // idle far replica; GORGO sees that the near replica will start it at once and stays.
        using var tiny = new TinyScenario();
        ulong next = 1;
        var lines = Enumerable.Range(0, 60).Select(i => new TinyScenario.Line(i * 60, 1_500, 8, TinyScenario.Ids(1_500, [], ref next))).ToList();
        Scenario scenario = tiny.With(lines, TwoRegions, [new() { Name = "least-load", Policy = "least-load" }, new() { Name = "gorgo", Policy = "gorgo" }], users: new() { ["near"] = 1 });

        List<RunSummary> runs = new Simulation(scenario).Run(null, null, CancellationToken.None).Summary.Runs;

        RunSummary leastLoad = runs.Single(r => r.Name == "least-load");
        RunSummary gorgo = runs.Single(r => r.Name == "gorgo");
        Assert.True(gorgo.TtftMs.Mean < leastLoad.TtftMs.Mean, $"gorgo {gorgo.TtftMs.Mean} vs least-load {leastLoad.TtftMs.Mean}");
        Assert.Equal(0, gorgo.CrossRegionFraction);
        Assert.True(leastLoad.CrossRegionFraction > 0.2);
    }

    [Fact]
    public void A_gossip_round_waits_for_its_replies_so_far_peers_stretch_a_short_interval()
    {
        // Two regions 300 ms apart: a round's reply is back after 300 ms, so a 10 ms interval gossips about as often
        // as a 300 ms one (the live node awaits its exchanges; ticks missed meanwhile coalesce), not thirty times as often.
        using var tiny = new TinyScenario();
        ulong next = 1;
        var lines = Enumerable.Range(0, 40).Select(i => new TinyScenario.Line(i * 100, 600, 4, TinyScenario.Ids(600, [], ref next))).ToList();
        Scenario scenario = tiny.With(lines, TwoRegions, [new() { Name = "gorgo", Policy = "gorgo" }]);

        double BytesPerNodePerS(int intervalMs) =>
            new Simulation(scenario with { Mesh = new MeshSpec { Gossip = new GossipOptions { IntervalMs = intervalMs } } })
                .Run(["gorgo"], null, CancellationToken.None).Summary.Runs.Single(r => r.Name == "gorgo").GossipBytesPerNodePerS!.Value;

        double fast = BytesPerNodePerS(10);
        double matched = BytesPerNodePerS(300);
        Assert.True(matched > 0);
        Assert.InRange(fast / matched, 0.8, 1.5);
    }

    [Fact]
    public void Delta_gossip_sends_a_small_fraction_of_whole_digests_bytes_for_the_same_decisions()
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        Scenario scenario = smoke with
        {
            Runs =
            [
                new RunSpec { Name = "deltas", Policy = "gorgo" },
                new RunSpec { Name = "whole", Policy = "gorgo", GossipDeltas = false },
            ],
        };

        List<RunSummary> runs = new Simulation(scenario).Run(["deltas", "whole"], null, CancellationToken.None).Summary.Runs;
        RunSummary deltas = runs.Single(r => r.Name == "deltas"), whole = runs.Single(r => r.Name == "whole");
        Assert.Equal(whole.TtftMs, deltas.TtftMs); // a delta rebuilds exactly what a whole digest says
        Assert.Equal(whole.PrefixHitRate, deltas.PrefixHitRate);
        Assert.True(deltas.GossipBytesPerNodePerS < whole.GossipBytesPerNodePerS / 10, $"deltas {deltas.GossipBytesPerNodePerS} B/s, whole {whole.GossipBytesPerNodePerS} B/s");
    }

    [Fact]
    public void Digest_blocks_added_to_what_a_node_learned_keep_more_prefix_hits_than_digests_that_replace_it()
    {
        // The paper scenario's conversations come back to the replicas their earlier turns went to only if the node
        // still believes those replicas hold them: "replace" forgets what the next digest does not list, "union" keeps it.
        Scenario paper = Scenario.Load(Paths.Scenario("paper-3region.json"));
        Scenario scenario = paper with
        {
            Runs =
            [
                new RunSpec { Name = "replace", Policy = "gorgo", SummaryMerge = PrefixMergeMode.Replace },
                new RunSpec { Name = "union", Policy = "gorgo", SummaryMerge = PrefixMergeMode.Union },
            ],
        };

        List<RunSummary> runs = new Simulation(scenario).Run(["replace", "union"], null, CancellationToken.None).Summary.Runs;

        RunSummary replace = runs.Single(r => r.Name == "replace");
        RunSummary union = runs.Single(r => r.Name == "union");
        Assert.True(union.PrefixHitRate > replace.PrefixHitRate, $"union {union.PrefixHitRate:P2} vs replace {replace.PrefixHitRate:P2}");
        Assert.Equal(replace.Requests, union.Completed);
    }
}
