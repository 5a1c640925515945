using Gorgo.Scenarios;

namespace Gorgo.Simulator.Tests;

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
}
