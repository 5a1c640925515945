using Gorgo.Routing.Fleet;

namespace Gorgo.Routing.Tests;

public class RttMatrixTests
{
    [Fact]
    public void Pairs_fill_the_reverse_direction_and_the_diagonal()
    {
        RttMatrix m = RttMatrix.FromPairs([("a", "b", 90.0), ("b", "c", 120.0), ("a", "c", 50.0), ("c", "a", 55.0)], defaultIntraRegionMs: 2);
        Assert.Equal(90, m.Get("b", "a"));
        Assert.Equal(55, m.Get("c", "a"));
        Assert.Equal(50, m.Get("a", "c"));
        Assert.Equal(2, m.Get("b", "b"));
        Assert.Equal(["a", "b", "c"], m.Regions);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-1)]
    [InlineData(double.PositiveInfinity)]
    public void Non_finite_or_negative_rtts_are_rejected(double bad)
    {
        var ex = Assert.Throws<ArgumentException>(() => RttMatrix.FromPairs([("a", "b", bad)]));
        Assert.Contains("'a' to 'b'", ex.Message);
        Assert.Throws<ArgumentException>(() => TestFleet.Rtt.With("us-east", "eu-central", bad));
    }

    [Fact]
    public void Missing_pairs_unknown_regions_and_bad_shapes_are_clear_errors()
    {
        Assert.Contains("between 'a' and 'c'", Assert.Throws<ArgumentException>(() => RttMatrix.FromPairs([("a", "b", 1.0), ("b", "c", 1.0)])).Message);
        Assert.Contains("Unknown region 'mars'", Assert.Throws<ArgumentException>(() => TestFleet.Rtt.Get("mars", "us-east")).Message);
        Assert.Throws<ArgumentException>(() => RttMatrix.Create(["a", "b"], new double[1, 1]));
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => RttMatrix.Create(["a", "a"], new double[2, 2])).Message);
    }

    [Fact]
    public void With_changes_one_direction_only()
    {
        RttMatrix changed = TestFleet.Rtt.With("us-east", "eu-central", 120);
        Assert.Equal(120, changed.Get("us-east", "eu-central"));
        Assert.Equal(92.8, changed.Get("eu-central", "us-east"));
        Assert.Equal(92.8, TestFleet.Rtt.Get("us-east", "eu-central"));
    }
}
