using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Scenarios.Tests;

public class SweepTests
{
    private static Scenario Smoke => Scenario.Load(Paths.Scenario("smoke.json"));

    [Fact]
    public void A_sweep_parses_and_sets_a_field_found_by_its_path_suffix()
    {
        Sweep sweep = Sweep.Parse("gossip.intervalMs=50, 200,1000");
        Assert.Equal("gossip.intervalMs", sweep.Path);
        Assert.Equal([50.0, 200, 1000], sweep.Values);
        Assert.Equal(200, sweep.Apply(Smoke, 200).Mesh.Gossip.IntervalMs);
        Assert.Equal(0.25, Sweep.Parse("trace.timeScale=0.25").Apply(Smoke, 0.25).Trace.TimeScale);
        Assert.Equal(3.5, Sweep.Parse("users.us-east=3.5").Apply(Smoke, 3.5).Users["us-east"]);
    }

    [Theory]
    [InlineData("gossip.intervalMs")]
    [InlineData("=1,2")]
    [InlineData("gossip.intervalMs=")]
    [InlineData("gossip.intervalMs=fast")]
    public void Malformed_sweeps_are_rejected_with_the_reason(string text)
    {
        var ex = Assert.Throws<ArgumentException>(() => Sweep.Parse(text));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }

    [Fact]
    public void Unknown_ambiguous_and_invalid_fields_get_clear_errors()
    {
        var unknown = Assert.Throws<ArgumentException>(() => Sweep.Parse("gossip.speed=1").Apply(Smoke, 1));
        Assert.Contains("no numeric field 'gossip.speed'", unknown.Message);
        Assert.Contains("mesh.gossip.intervalMs", unknown.Message);

        Scenario twoNumbersNamedA = Smoke with { Users = new() { ["us-east"] = 1 }, Replicas = Smoke.Replicas with { Counts = new() { ["us-east"] = 2 } } };
        var ambiguous = Assert.Throws<ArgumentException>(() => Sweep.Parse("us-east=3").Apply(twoNumbersNamedA, 3));
        Assert.Contains("ambiguous", ambiguous.Message);

        Assert.Throws<Gorgo.Routing.Options.RoutingOptionsException>(() => Sweep.Parse("gossip.fanout=0").Apply(Smoke, 0));
        Assert.Throws<ArgumentException>(() => Sweep.Parse("gossip.fanout=1.5").Apply(Smoke, 1.5));
    }

    [Fact]
    public void A_load_sweep_writes_its_table_and_a_latency_versus_load_plot_and_other_sweeps_a_sweep_plot()
    {
        Scenario poisson = Smoke with { Trace = Smoke.Trace with { TimeScale = 1 }, Traffic = new LoadSpec { Mode = LoadMode.Poisson, Rate = 5 } };
        static BenchSummary Point(double rps, double p50) => new()
        {
            Scenario = "smoke",
            Runs = [new RunSummary { Name = "mesh-gorgo", Mode = "mesh", Policy = "gorgo", ThroughputRps = rps, TtftMs = new LatencyStats(p50, p50, p50 * 2, p50 * 3) }],
        };
        (double, BenchSummary)[] points = [(5, Point(4.9, 60)), (20, Point(19.5, 90))];
        string dir = Path.Combine(Path.GetTempPath(), "gorgo-sweep-" + Guid.NewGuid().ToString("N"));
        try
        {
            Sweep load = Sweep.Parse("rate=5,20");
            Assert.True(load.SweepsLoad(poisson));
            Assert.Equal("load.rate", load.FieldIn(poisson));
            (string table, IReadOnlyList<string> files) = load.Write(dir, poisson, points, simulated: false);
            Assert.Equal(["sweep.md", "sweep.json", "latency_vs_load.png"], files);
            Assert.Contains("| 20 | mesh-gorgo | 19.50 |", table);
            Assert.Contains("(live)", table);
            Assert.True(new FileInfo(Path.Combine(dir, "latency_vs_load.png")).Length > 1000);

            Sweep gossip = Sweep.Parse("gossip.intervalMs=50,200");
            Assert.False(gossip.SweepsLoad(poisson));
            Assert.Equal("sweep.png", gossip.Write(Path.Combine(dir, "g"), poisson, points, simulated: true).Files[^1]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
