using Gorgo.Scenarios;

namespace Gorgo.Scenarios.Workload;

/// <summary>Builds a scenario's requests: reads its trace, applies first-N, time scale, rate multiplier and length caps, places users in regions and synthesises prompts.</summary>
public static class WorkloadBuilder
{
    /// <summary>The scenario's requests in arrival order, with their prompts as token ids (for the live harness).</summary>
    public static IReadOnlyList<BenchRequest> Build(Scenario scenario)
    {
        var synthesizer = new PromptSynthesizer(scenario.Seed, scenario.Trace.Sharing);
        return Shapes(scenario)
            .Select(r => new BenchRequest(r.Index, r.ArrivalMs, r.UserRegion, synthesizer.Tokens(r), r.OutputTokens))
            .ToArray();
    }

    /// <summary>The scenario's requests in arrival order without their prompts, generated lazily (the simulator streams millions).</summary>
    /// <remarks>
    /// With a rate multiplier m, each trace request is sent ⌊m⌋ or ⌈m⌉ times (at random, m on average), the copies
    /// spread evenly over the gap to the next arrival. A copy's Mooncake block ids are shifted into a range of its own,
    /// so copies behave like another population of users with the same prefix structure: sharing within a copy is kept,
    /// sharing between copies is not invented. The trace itself is read once into memory (its requests, not prompts).
    /// </remarks>
    /// <exception cref="ArgumentException">The trace's arrivals are not in order.</exception>
    public static IEnumerable<RequestShape> Shapes(Scenario scenario)
    {
        TraceSpec trace = scenario.Trace;
        List<TraceRequest> source = TraceReader.Read(trace.Kind, scenario.Resolve(trace.File), trace.FirstN).ToList();
        return Generate(scenario, source);
    }

    private static IEnumerable<RequestShape> Generate(Scenario scenario, List<TraceRequest> source)
    {
        TraceSpec trace = scenario.Trace;
        var random = new Random(scenario.Seed);
        (string Region, double Cumulative)[] users = UserWeights(scenario);
        ulong idSpan = source.Where(r => r.BlockIds is not null).SelectMany(r => r.BlockIds!).DefaultIfEmpty(0UL).Max() + 1;
        double start = source.Count > 0 ? source[0].ArrivalMs : 0;
        int index = 0;
        for (int i = 0; i < source.Count; i++)
        {
            TraceRequest r = source[i];
            double gap = i + 1 < source.Count ? source[i + 1].ArrivalMs - r.ArrivalMs : 0;
            if (gap < 0)
            {
                throw new ArgumentException($"Trace '{trace.File}' is not in arrival order at request {i + 2} ({source[i + 1].ArrivalMs} ms after {r.ArrivalMs} ms).");
            }

            int copies = (int)Math.Floor(trace.RateMultiplier) + (random.NextDouble() < trace.RateMultiplier % 1 ? 1 : 0);
            for (int c = 0; c < copies; c++)
            {
                double arrival = (r.ArrivalMs - start + (gap * c / copies)) * trace.TimeScale;
                int input = trace.MaxInputTokens > 0 ? Math.Min(r.InputTokens, trace.MaxInputTokens) : r.InputTokens;
                int output = trace.MaxOutputTokens > 0 ? Math.Min(r.OutputTokens, trace.MaxOutputTokens) : r.OutputTokens;
                ulong[]? ids = r.BlockIds is { } blockIds ? Shift(blockIds, input, (ulong)c * idSpan) : null;
                yield return new RequestShape(index++, arrival, PickRegion(users, random.NextDouble()), input, Math.Max(1, output), ids);
            }
        }
    }

    /// <summary>The ids of the blocks a prompt of <paramref name="input"/> tokens covers, shifted by <paramref name="offset"/>.</summary>
    private static ulong[] Shift(ulong[] ids, int input, ulong offset)
    {
        int blocks = Math.Min(ids.Length, (input + TraceReader.MooncakeBlockTokens - 1) / TraceReader.MooncakeBlockTokens);
        var shifted = new ulong[blocks];
        for (int b = 0; b < blocks; b++)
        {
            shifted[b] = ids[b] + offset;
        }

        return shifted;
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
