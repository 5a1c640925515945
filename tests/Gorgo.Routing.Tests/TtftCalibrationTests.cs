using Gorgo.Routing.Cost;

namespace Gorgo.Routing.Tests;

/// <summary>The online fit of observed TTFT against the cost model: it finds a replica's true gains and overhead, shrugs off outliers and stays in bounds.</summary>
public sealed class TtftCalibrationTests
{
    private static readonly CalibrationOptions Options = new() { Enabled = true };

    [Fact]
    public void It_finds_the_queue_and_prefill_gains_and_the_overhead_of_a_replica_unlike_its_model()
    {
        var random = new Random(3);
        TtftCalibration fit = TtftCalibration.Start(15);
        for (int i = 0; i < 400; i++)
        {
            double queue = random.Next(2) == 0 ? 0 : random.Next(50, 4_000);
            double prefill = random.Next(20, 3_000);
            double observed = ((1.6 * queue) + (2.5 * prefill) + 60) * (1 + ((random.NextDouble() - 0.5) * 0.02)); // ±1 % noise
            fit.Observe(queue, prefill, observed, Options);
        }

        Assert.InRange(fit.QueueGain, 1.5, 1.7);
        Assert.InRange(fit.PrefillGain, 2.4, 2.6);
        Assert.InRange(fit.OverheadMs, 20, 100);
        Assert.Equal(400, fit.Observations);
        Assert.True(fit.IsReady(Options));
    }

    [Fact]
    public void Rare_outliers_do_not_drag_the_fit()
    {
        var random = new Random(5);
        TtftCalibration fit = TtftCalibration.Start(15);
        for (int i = 0; i < 400; i++)
        {
            double queue = random.Next(0, 2_000);
            double prefill = random.Next(20, 3_000);
            double observed = queue + (0.8 * prefill) + 20;
            fit.Observe(queue, prefill, i % 20 == 7 ? observed * 20 : observed, Options); // 5 %: twenty times slower (a stall)
        }

        Assert.InRange(fit.QueueGain, 0.85, 1.2);
        Assert.InRange(fit.PrefillGain, 0.7, 0.95);
        Assert.InRange(fit.OverheadMs, 0, 150);
    }

    [Fact]
    public void The_fit_stays_within_its_bounds_and_ignores_nonsense()
    {
        TtftCalibration fit = TtftCalibration.Start(15);
        for (int i = 0; i < 100; i++)
        {
            fit.Observe(50, 100, 100_000, Options);
        }

        Assert.Equal(Options.MaxGain, fit.PrefillGain);
        Assert.InRange(fit.QueueGain, Options.MinGain, Options.MaxGain);
        Assert.InRange(fit.OverheadMs, 0, Options.MaxOverheadMs);

        TtftCalibration untouched = TtftCalibration.Start(15);
        untouched.Observe(double.NaN, 10, 10, Options);
        untouched.Observe(10, 10, double.PositiveInfinity, Options);
        untouched.Observe(-5, 10, 10, Options);
        Assert.Equal((1.0, 1.0, 15.0, 0L), (untouched.QueueGain, untouched.PrefillGain, untouched.OverheadMs, untouched.Observations));
        Assert.False(untouched.IsReady(Options));
    }

    [Fact]
    public void Applied_it_scales_queue_and_prefill_and_replaces_the_fixed_overhead()
    {
        var random = new Random(7);
        TtftCalibration fit = TtftCalibration.Start(15);
        for (int i = 0; i < 300; i++)
        {
            double queue = random.Next(0, 3_000);
            double prefill = random.Next(50, 3_000);
            fit.Observe(queue, prefill, (3 * queue) + (2 * prefill) + 40, Options);
        }

        TtftEstimate applied = fit.Apply(new TtftEstimate(networkMs: 90, queueMs: 200, prefillMs: 300, overheadMs: 15 + 250), configuredOverheadMs: 15);
        Assert.Equal(90, applied.NetworkMs);
        Assert.Equal(600, applied.QueueMs, 0);
        Assert.Equal(600, applied.PrefillMs, 0);
        Assert.Equal(40 + 250, applied.OverheadMs, 0); // the degraded penalty stays
    }
}
