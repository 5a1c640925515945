using Gorgo.Scenarios.Workload;

namespace Gorgo.Scenarios.Tests;

/// <summary>The scenario's <c>load</c>: Poisson and closed-loop workloads built from the trace.</summary>
public class LoadTests
{
    private static Scenario Smoke(LoadSpec load, int firstN = 50)
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        return smoke with { Trace = smoke.Trace with { FirstN = firstN, TimeScale = 1 }, Traffic = load };
    }

    [Fact]
    public void Poisson_arrivals_come_at_the_rate_in_the_traces_order_and_start_it_again_as_another_population()
    {
        Scenario scenario = Smoke(new LoadSpec { Mode = LoadMode.Poisson, Rate = 20, Count = 2000 });
        Assert.Empty(scenario.Validate());
        RequestShape[] shapes = WorkloadBuilder.Shapes(scenario).ToArray();

        Assert.Equal(2000, shapes.Length);
        Assert.Equal(Enumerable.Range(0, 2000), shapes.Select(s => s.Index));
        Assert.True(shapes.Zip(shapes.Skip(1)).All(p => p.Second.ArrivalMs > p.First.ArrivalMs));
        double meanGapMs = shapes[^1].ArrivalMs / (shapes.Length - 1);
        Assert.InRange(meanGapMs, 50 * 0.9, 50 * 1.1); // 1,999 exponential gaps: the mean is within 10 % with overwhelming odds

        RequestShape first = shapes[3];
        RequestShape again = shapes[53]; // the same trace request in the second pass
        Assert.Equal((first.InputTokens, first.OutputTokens), (again.InputTokens, again.OutputTokens));
        Assert.Equal(first.BlockIds!.Length, again.BlockIds!.Length);
        Assert.Empty(first.BlockIds.Intersect(again.BlockIds)); // another population: no prefix shared with the first pass
        Assert.Equal(
            shapes[3].BlockIds!.Intersect(shapes[4].BlockIds!).Count(),
            shapes[53].BlockIds!.Intersect(shapes[54].BlockIds!).Count()); // sharing within a pass is kept
    }

    [Fact]
    public void A_duration_bounds_poisson_arrivals_and_the_same_seed_gives_the_same_arrivals()
    {
        Scenario scenario = Smoke(new LoadSpec { Mode = LoadMode.Poisson, Rate = 10, DurationSeconds = 30 });
        RequestShape[] shapes = WorkloadBuilder.Shapes(scenario).ToArray();

        Assert.All(shapes, s => Assert.InRange(s.ArrivalMs, 0, 30_000));
        Assert.InRange(shapes.Length, 240, 360); // 300 expected; five standard deviations either side is ±87
        Assert.Equal(shapes.Select(s => (s.ArrivalMs, s.UserRegion)), WorkloadBuilder.Shapes(scenario).Select(s => (s.ArrivalMs, s.UserRegion)));
        Assert.Equal(shapes.Length, WorkloadBuilder.ExpectedCount(scenario));
    }

    [Fact]
    public void A_closed_loop_sends_the_traces_requests_in_order_and_knows_no_count_when_only_time_bounds_it()
    {
        RequestShape[] shapes = WorkloadBuilder.Shapes(Smoke(new LoadSpec { Mode = LoadMode.Concurrency, Concurrency = 4 })).ToArray();
        Assert.Equal(50, shapes.Length);
        Assert.All(shapes, s => Assert.Equal(0, s.ArrivalMs)); // the loop decides when each leaves

        Scenario timed = Smoke(new LoadSpec { Mode = LoadMode.Concurrency, Concurrency = 4, DurationSeconds = 60 });
        Assert.Equal(0, WorkloadBuilder.ExpectedCount(timed));
        Assert.Equal(500, WorkloadBuilder.Shapes(timed).Take(500).Count()); // as many as the clients manage
    }

    [Theory]
    [InlineData(LoadMode.Poisson, 0, 0, 0, "load.rate must be a positive number")]
    [InlineData(LoadMode.Concurrency, 0, 0, 0, "load.concurrency must be at least 1")]
    [InlineData(LoadMode.Trace, 5, 0, 0, "load.rate is for load.mode poisson")]
    [InlineData(LoadMode.Poisson, 5, 3, 0, "load.concurrency and load.thinkMs are for load.mode concurrency")]
    [InlineData(LoadMode.Trace, 0, 0, 100, "load.count and load.durationSeconds are for load.mode poisson and concurrency")]
    public void Load_settings_that_do_not_fit_the_mode_are_refused_with_the_reason(LoadMode mode, double rate, int concurrency, int count, string expected)
    {
        Scenario scenario = Smoke(new LoadSpec { Mode = mode, Rate = rate, Concurrency = concurrency, Count = count });
        Assert.Contains(scenario.Validate(), e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_paced_load_refuses_the_traces_own_pacing_and_an_unknown_mode_names_the_valid_ones()
    {
        Scenario scaled = Smoke(new LoadSpec { Mode = LoadMode.Poisson, Rate = 5 });
        scaled = scaled with { Trace = scaled.Trace with { TimeScale = 0.1 } };
        Assert.Contains(scaled.Validate(), e => e.Contains("trace.timeScale and trace.rateMultiplier", StringComparison.Ordinal));

        string path = Path.Combine(Path.GetTempPath(), $"gorgo-load-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, File.ReadAllText(Paths.Scenario("smoke.json")).Replace("\"users\":", "\"load\": { \"mode\": \"closed\" },\n  \"users\":", StringComparison.Ordinal).Replace("../data/", Paths.Data() + "/", StringComparison.Ordinal));
        try
        {
            string message = Assert.Throws<ArgumentException>(() => Scenario.Load(path)).Message;
            Assert.Contains("trace, poisson, concurrency", message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
