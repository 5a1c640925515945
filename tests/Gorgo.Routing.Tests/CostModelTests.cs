using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Options;

namespace Gorgo.Routing.Tests;

public class CostModelTests
{
    private static readonly CostModel Model = new();

    private static CostInputs Inputs(double rtt = 10, double queued = 1_000, double running = 2_000, double uncached = 500, double tp = 0.094) =>
        new(rtt, 0, queued, running, uncached, tp, Degraded: false);

    [Fact]
    public void Terms_follow_the_gorgo_formula()
    {
        TtftEstimate e = new CostModel(new CostModelOptions { RunningWorkFraction = 0.5, FixedOverheadMs = 15 })
            .Estimate(new CostInputs(92.8, 5.3, 1_000, 2_000, 500, 0.094, Degraded: false));

        Assert.Equal(98.1, e.NetworkMs, 6);
        Assert.Equal(0.094 * (1_000 + (0.5 * 2_000)), e.QueueMs, 6);
        Assert.Equal(0.094 * 500, e.PrefillMs, 6);
        Assert.Equal(15, e.OverheadMs, 6);
        Assert.Equal(e.NetworkMs + e.QueueMs + e.PrefillMs + e.OverheadMs, e.TotalMs, 9);
    }

    [Property(MaxTest = 200)]
    public bool Estimate_grows_with_rtt_queue_and_uncached_tokens(NonNegativeInt rtt, NonNegativeInt queued, NonNegativeInt uncached, PositiveInt more)
    {
        TtftEstimate baseline = Model.Estimate(Inputs(rtt.Get, queued.Get, 1_000, uncached.Get));
        return Model.Estimate(Inputs(rtt.Get + more.Get, queued.Get, 1_000, uncached.Get)).TotalMs > baseline.TotalMs
            && Model.Estimate(Inputs(rtt.Get, queued.Get + more.Get, 1_000, uncached.Get)).TotalMs > baseline.TotalMs
            && Model.Estimate(Inputs(rtt.Get, queued.Get, 1_000 + more.Get, uncached.Get)).TotalMs > baseline.TotalMs
            && Model.Estimate(Inputs(rtt.Get, queued.Get, 1_000, uncached.Get + more.Get)).TotalMs > baseline.TotalMs;
    }

    [Fact]
    public void Slower_hardware_costs_more_for_the_same_work()
    {
        Assert.True(Model.Estimate(Inputs(tp: 0.094)).TotalMs > Model.Estimate(Inputs(tp: 0.030)).TotalMs);
    }

    [Fact]
    public void A_degraded_replica_pays_the_penalty()
    {
        var model = new CostModel(new CostModelOptions { DegradedPenaltyMs = 250 });
        CostInputs healthy = Inputs();
        Assert.Equal(250, model.Estimate(healthy with { Degraded = true }).TotalMs - model.Estimate(healthy).TotalMs, 6);
    }

    [Theory]
    [InlineData(double.NaN, 15, 250)]
    [InlineData(1.5, 15, 250)]
    [InlineData(-0.1, 15, 250)]
    [InlineData(0.5, double.PositiveInfinity, 250)]
    [InlineData(0.5, -1, 250)]
    [InlineData(0.5, 15, double.NaN)]
    public void Invalid_options_are_rejected_with_the_field_named(double fraction, double overhead, double penalty)
    {
        var ex = Assert.Throws<RoutingOptionsException>(() => new CostModel(new CostModelOptions { RunningWorkFraction = fraction, FixedOverheadMs = overhead, DegradedPenaltyMs = penalty }));
        Assert.Single(ex.Errors);
        Assert.Matches("RunningWorkFraction|FixedOverheadMs|DegradedPenaltyMs", ex.Message);
    }
}
