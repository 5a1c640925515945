using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator.Tests;

/// <summary>Closed-loop and Poisson loads in the simulator.</summary>
public class LoadModeTests
{
    private static Scenario Smoke(LoadSpec load, int firstN)
    {
        Scenario smoke = Scenario.Load(Paths.Scenario("smoke.json"));
        return smoke with { Trace = smoke.Trace with { FirstN = firstN, TimeScale = 1 }, Traffic = load };
    }

    [Fact]
    public void A_closed_loop_keeps_exactly_its_clients_busy_and_sends_each_next_request_when_a_response_ends()
    {
        Scenario scenario = Smoke(new LoadSpec { Mode = LoadMode.Concurrency, Concurrency = 4, ThinkMs = 5 }, firstN: 60);
        SimulationResult result = new Simulation(scenario).Run(["mesh-gorgo"], null, CancellationToken.None);
        RequestRecord[] mesh = result.Records!.Where(r => r.Run == "mesh-gorgo").OrderBy(r => r.ArrivalMs).ThenBy(r => r.Index).ToArray();

        Assert.Equal(60, mesh.Length);
        Assert.All(mesh, r => Assert.True(r.Completed));
        Assert.Equal(4, mesh.Count(r => r.ArrivalMs == 0));
        double[] ends = mesh.Select(r => r.ArrivalMs + r.E2eMs!.Value).ToArray();
        foreach (RequestRecord later in mesh.Skip(4))
        {
            Assert.Contains(ends, end => Math.Abs(end + 5 - later.ArrivalMs) < 1e-6); // its client's last response ended 5 ms before
        }

        int MostInFlight() => mesh.Max(r => mesh.Count(o => o.ArrivalMs <= r.ArrivalMs && r.ArrivalMs < o.ArrivalMs + o.E2eMs!.Value));
        Assert.Equal(4, MostInFlight());
        Assert.Equal(60, result.Summary.Runs[0].Completed);
    }

    [Fact]
    public void More_offered_load_gives_more_throughput_and_a_longer_ttft_tail()
    {
        RunSummary At(double rate) => new Simulation(Smoke(new LoadSpec { Mode = LoadMode.Poisson, Rate = rate, Count = 400 }, firstN: 100))
            .Run(["mesh-gorgo"], null, CancellationToken.None).Summary.Runs.Single(r => r.Name == "mesh-gorgo");

        RunSummary light = At(5);
        RunSummary heavy = At(120);

        Assert.InRange(light.ThroughputRps, 4.25, 5.75); // 400 exponential gaps: within 15 % (three standard deviations)
        Assert.True(heavy.ThroughputRps > 10 * light.ThroughputRps, $"{heavy.ThroughputRps} vs {light.ThroughputRps} req/s");
        Assert.True(heavy.TtftMs.P99 > light.TtftMs.P99, $"P99 {heavy.TtftMs.P99} ms at 120 req/s vs {light.TtftMs.P99} ms at 5 req/s");
    }
}
