using Gorgo.Bench.Scenarios;

namespace Gorgo.Bench.Workload;

/// <summary>Builds a scenario's requests: reads its trace, applies first-N, time scale, rate multiplier and length caps, places users in regions and synthesises prompts.</summary>
public static class WorkloadBuilder
{
    /// <summary>The scenario's requests in arrival order.</summary>
    /// <remarks>
    /// With a rate multiplier m, each trace request is sent ⌊m⌋ or ⌈m⌉ times (at random, m on average), the copies
    /// spread evenly over the gap to the next arrival. A copy's Mooncake block ids are shifted into a range of its own,
    /// so copies behave like another population of users with the same prefix structure: sharing within a copy is kept,
    /// sharing between copies is not invented.
    /// </remarks>
    public static IReadOnlyList<BenchRequest> Build(Scenario scenario)
    {
        TraceSpec trace = scenario.Trace;
        List<TraceRequest> source = TraceReader.Read(trace.Kind, scenario.Resolve(trace.File), trace.FirstN).ToList();
        var random = new Random(scenario.Seed);
        var synthesizer = new PromptSynthesizer(scenario.Seed, trace.Sharing);
        (string Region, double Cumulative)[] users = UserWeights(scenario);
        ulong idSpan = source.Count == 0 ? 1 : source.Where(r => r.BlockIds is not null).SelectMany(r => r.BlockIds!).DefaultIfEmpty(0UL).Max() + 1;
        var requests = new List<BenchRequest>(source.Count);
        double start = source.Count > 0 ? source[0].ArrivalMs : 0;
        for (int i = 0; i < source.Count; i++)
        {
            TraceRequest r = source[i];
            double gap = i + 1 < source.Count ? source[i + 1].ArrivalMs - r.ArrivalMs : 0;
            int copies = (int)Math.Floor(trace.RateMultiplier) + (random.NextDouble() < trace.RateMultiplier % 1 ? 1 : 0);
            for (int c = 0; c < copies; c++)
            {
                double arrival = (r.ArrivalMs - start + (gap * c / copies)) * trace.TimeScale;
                int input = trace.MaxInputTokens > 0 ? Math.Min(r.InputTokens, trace.MaxInputTokens) : r.InputTokens;
                int output = trace.MaxOutputTokens > 0 ? Math.Min(r.OutputTokens, trace.MaxOutputTokens) : r.OutputTokens;
                int[] prompt = r.BlockIds is { } ids
                    ? synthesizer.FromBlocks(ids.Select(id => id + ((ulong)c * idSpan)).ToArray(), input)
                    : synthesizer.Synthetic(requests.Count, input);
                requests.Add(new BenchRequest(requests.Count, arrival, PickRegion(users, random.NextDouble()), prompt, Math.Max(1, output)));
            }
        }

        requests.Sort((a, b) => a.ArrivalMs.CompareTo(b.ArrivalMs));
        return requests.Select((r, i) => r with { Index = i }).ToArray();
    }

    private static (string Region, double Cumulative)[] UserWeights(Scenario scenario)
    {
        double[] weights = scenario.Regions.Select(r => scenario.Users.Count == 0 ? 1.0 : scenario.Users.GetValueOrDefault(r, 0)).ToArray();
        double total = weights.Sum();
        double sum = 0;
        return scenario.Regions.Select((r, i) => (r, sum += weights[i] / total)).ToArray();
    }

    private static string PickRegion((string Region, double Cumulative)[] users, double u)
    {
        foreach ((string region, double cumulative) in users)
        {
            if (u < cumulative)
            {
                return region;
            }
        }

        return users[^1].Region;
    }
}
