using Gorgo.Scenarios;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Options;

namespace Gorgo.Scenarios.Tests;

public class ScenarioTests
{
    [Theory]
    [InlineData("smoke.json")]
    [InlineData("paper-3region.json")]
    [InlineData("aws-6region.json")]
    [InlineData("scale-100x10.json")]
    [InlineData("scale-100x10-consistency.json")]
    [InlineData("scale-100x10-lite.json")]
    [InlineData("faults-3region.json")]
    [InlineData("faults-smoke.json")]
    [InlineData("kv-views.json")]
    [InlineData("calibration.json")]
    [InlineData("calibration-degraded.json")]
    [InlineData("paper-setup.json")]
    [InlineData("burst.json")]
    public void Shipped_scenarios_load_and_their_rtts_resolve(string file)
    {
        Scenario scenario = Scenario.Load(Paths.Scenario(file));
        RttMatrix rtt = ScenarioRtt.Build(scenario);
        Assert.Equal(scenario.Regions.Order(), rtt.Regions.Order());
        Assert.All(scenario.Regions, a => Assert.All(scenario.Regions, b => Assert.True(rtt.Get(a, b) > 0)));
        Assert.True(File.Exists(scenario.Resolve(scenario.Trace.File)));
    }

    [Fact]
    public void The_scale_consistency_scenario_simulates_the_scale_scenarios_fleet_and_traffic_under_more_settings()
    {
        Scenario scale = Scenario.Load(Paths.Scenario("scale-100x10.json"));
        Scenario consistency = Scenario.Load(Paths.Scenario("scale-100x10-consistency.json"));
        Assert.Equal(scale.Regions, consistency.Regions);
        Assert.Equal(scale.Seed, consistency.Seed);
        Assert.Equal(Json(scale.Rtt), Json(consistency.Rtt));
        Assert.Equal(Json(scale.Replicas), Json(consistency.Replicas));
        Assert.Equal(Json(scale.Trace), Json(consistency.Trace));
        Assert.Equal(Json(scale.Mesh), Json(consistency.Mesh));
        Assert.Equal(Json(scale.Sim), Json(consistency.Sim));
        Assert.Equal(Json(scale.Limits), Json(consistency.Limits));
        Assert.Equal(Json(scale.Runs), Json(consistency.Runs.Where(r => r.Name == "mesh-gorgo")));
        Assert.Contains(consistency.Runs, r => r.Consistency == Gorgo.Mesh.Core.ConsistencyMode.Shared);
        Assert.Contains(consistency.Runs, r => r.SummaryMerge == Gorgo.Routing.Index.PrefixMergeMode.Union);

        static string Json<T>(T value) => System.Text.Json.JsonSerializer.Serialize(value, Scenario.JsonOptions);
    }

    [Fact]
    public void The_paper_scenario_uses_the_backbone_rtts_of_the_recommended_file()
    {
        RttMatrix rtt = ScenarioRtt.Build(Scenario.Load(Paths.Scenario("paper-3region.json")));
        Assert.Equal(92.8, rtt.Get("us-east", "eu-central"));
        Assert.Equal(178.6, rtt.Get("ap-northeast", "us-east"));
        Assert.Equal(231.5, rtt.Get("eu-central", "ap-northeast"));
        Assert.Equal(5.3, rtt.Get("us-east", "us-east"));
    }

    [Fact]
    public void A_multiplier_scales_every_rtt_and_square_matrices_are_read()
    {
        Scenario aws = Scenario.Load(Paths.Scenario("aws-6region.json"));
        RttMatrix plain = ScenarioRtt.Build(aws);
        RttMatrix tripled = ScenarioRtt.Build(aws with { Rtt = aws.Rtt with { Multiplier = 3 } });
        Assert.Equal(3 * plain.Get("us-east", "il-telaviv"), tripled.Get("us-east", "il-telaviv"), 9);
        Assert.InRange(plain.Get("us-east", "ap-northeast-seoul"), 100, 300);
    }

    [Fact]
    public void Invalid_scenarios_get_clear_errors()
    {
        string dir = Directory.CreateTempSubdirectory("gorgo-scenario").FullName;
        try
        {
            string path = Path.Combine(dir, "bad.json");
            File.WriteAllText(path, """{ "regions": ["a"], "rtt": { "inline": { "a": { "a": 1 } } }, "trace": { "file": "t.jsonl", "kind": "csv" }, "mesh": { "gossip": { "fanout": 0 } }, "runs": [ { "name": "x", "policy": "fastest" }, { "name": "y", "mode": "proxy", "summaryMerge": "union", "cacheView": "exact", "calibrate": true } ] }""");
            RoutingOptionsException ex = Assert.Throws<RoutingOptionsException>(() => Scenario.Load(path));
            Assert.Contains("trace.kind must be 'mooncake' or 'azure'", ex.Message);
            Assert.Contains("Unknown policy 'fastest'", ex.Message);
            Assert.Contains("mesh.gossip.Fanout must be at least 1 (got 0)", ex.Message);
            Assert.Contains("run 'y': only a mesh run has a summaryMerge", ex.Message);
            Assert.Contains("run 'y': only a mesh run has a cacheView", ex.Message);
            Assert.Contains("run 'y': only a mesh run has calibrate", ex.Message);

            // A name that is not one of a setting's values stops reading at once, naming the field and every valid value.
            File.WriteAllText(path, """{ "regions": ["a"], "mesh": { "gossip": { "summaryMerge": "merge" } }, "runs": [ { "name": "x" } ] }""");
            string merge = Assert.Throws<ArgumentException>(() => Scenario.Load(path)).Message;
            Assert.Contains("$.mesh.gossip.summaryMerge", merge);
            Assert.Contains("must be one of replace, union (got 'merge')", merge);
            File.WriteAllText(path, """{ "regions": ["a"], "runs": [ { "name": "x", "mode": "cloud", "consistency": "eventual" } ] }""");
            Assert.Contains("must be one of mesh, proxy (got 'cloud')", Assert.Throws<ArgumentException>(() => Scenario.Load(path)).Message);
            File.WriteAllText(path, """{ "regions": ["a"], "runs": [ { "name": "x", "consistency": "eventual" } ] }""");
            Assert.Contains("must be one of local-only, gossip, sync, shared (got 'eventual')", Assert.Throws<ArgumentException>(() => Scenario.Load(path)).Message);

            File.WriteAllText(path, """{ "regions": ["a"], "runz": [] }""");
            Assert.Contains("runz", Assert.Throws<ArgumentException>(() => Scenario.Load(path)).Message);

            File.WriteAllText(path, """{ "regions": ["a", "b"], "rtt": { "inline": { "a": { "a": 1 } } }, "trace": { "file": "t" }, "runs": [ { "name": "r" } ] }""");
            Assert.Contains("no value between 'a' and 'b'", Assert.Throws<ArgumentException>(() => ScenarioRtt.Build(Scenario.Load(path))).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
