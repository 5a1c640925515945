using Gorgo.Scenarios;

namespace Gorgo.Scenarios.Workload;

/// <summary>Builds a scenario's requests: reads its trace, applies first-N, length caps and the load (the trace's arrivals scaled, Poisson arrivals, or closed-loop order), places users in regions and synthesises prompts.</summary>
public static class WorkloadBuilder
{
    /// <summary>The scenario's requests in sending order, with their prompts as token ids (for the live harness), generated lazily (a closed loop bounded only by time has no end).</summary>
    public static IEnumerable<BenchRequest> Build(Scenario scenario)
    {
        var synthesizer = new PromptSynthesizer(scenario.Seed, scenario.Trace.Sharing);
        return Shapes(scenario).Select(r => new BenchRequest(r.Index, r.ArrivalMs, r.UserRegion, synthesizer.Tokens(r), r.OutputTokens));
    }

    /// <summary>How many requests the workload has; 0 when only time bounds it (a closed loop with <c>load.durationSeconds</c> and no count).</summary>
    public static int ExpectedCount(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        LoadSpec load = scenario.Traffic;
        return load.ClosedLoop && load.Count == 0 && load.DurationSeconds > 0 ? 0 : Shapes(scenario).Count();
    }

    /// <summary>The scenario's requests in sending order without their prompts, generated lazily (the simulator streams millions).</summary>
    /// <remarks>
    /// <c>load.mode</c> <c>trace</c>: the trace's arrival times. With a rate multiplier m, each trace request is sent ⌊m⌋ or ⌈m⌉ times (at random, m on average), the copies
    /// spread evenly over the gap to the next arrival. A copy's Mooncake block ids are shifted into a range of its own,
    /// so copies behave like another population of users with the same prefix structure: sharing within a copy is kept,
    /// sharing between copies is not invented. <c>poisson</c>: the trace's requests in order at exponentially
    /// distributed gaps; <c>concurrency</c>: in order, with arrival 0 (the closed loop decides when each is sent). Past
    /// the trace's end both start it again as another copy. The trace itself is read once into memory (its requests,
    /// not prompts).
    /// </remarks>
    /// <exception cref="ArgumentException">The trace's arrivals are not in order.</exception>
    public static IEnumerable<RequestShape> Shapes(Scenario scenario)
    {
        TraceSpec trace = scenario.Trace;
        List<TraceRequest> source = TraceReader.Read(trace.Kind, scenario.Resolve(trace.File), trace.FirstN).ToList();
        return scenario.Traffic.Mode == LoadMode.Trace ? Replay(scenario, source) : Paced(scenario, source);
    }

    private static IEnumerable<RequestShape> Replay(Scenario scenario, List<TraceRequest> source)
    {
        TraceSpec trace = scenario.Trace;
        var random = new Random(scenario.Seed);
        (string Region, double Cumulative)[] users = UserWeights(scenario);
        ulong idSpan = IdSpan(source);
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
                yield return Shape(trace, r, index++, arrival, PickRegion(users, random.NextDouble()), (ulong)c * idSpan);
            }
        }
    }

    /// <summary>The trace's requests in order, again and again as new copies, at Poisson arrivals or (closed loop) arrival 0, until the load's count or duration.</summary>
    private static IEnumerable<RequestShape> Paced(Scenario scenario, List<TraceRequest> source)
    {
        LoadSpec load = scenario.Traffic;
        if (source.Count == 0)
        {
            yield break;
        }

        var random = new Random(scenario.Seed);
        var arrivals = new Random(unchecked((scenario.Seed * 7919) + 17)); // its own stream: the regions drawn do not depend on the rate
        (string Region, double Cumulative)[] users = UserWeights(scenario);
        ulong idSpan = IdSpan(source);
        long count = load.Count > 0 ? load.Count : load.DurationSeconds > 0 ? long.MaxValue : source.Count;
        double endMs = load.DurationSeconds > 0 ? load.DurationSeconds * 1000 : double.PositiveInfinity;
        double at = 0;
        for (long index = 0; index < count; index++)
        {
            if (load.Mode == LoadMode.Poisson)
            {
                at += -Math.Log(1 - arrivals.NextDouble()) * 1000 / load.Rate;
                if (at > endMs)
                {
                    yield break;
                }
            }

            long copy = index / source.Count;
            yield return Shape(scenario.Trace, source[(int)(index % source.Count)], checked((int)index), at, PickRegion(users, random.NextDouble()), (ulong)copy * idSpan);
        }
    }

    /// <summary>A trace request as sent: prompt length scaled, lengths capped, block ids of copy offset <paramref name="idOffset"/>.</summary>
    private static RequestShape Shape(TraceSpec trace, TraceRequest r, int index, double arrivalMs, string region, ulong idOffset)
    {
        int scaled = trace.InputScale == 1 ? r.InputTokens : Math.Max(1, (int)Math.Round(r.InputTokens * trace.InputScale));
        int input = trace.MaxInputTokens > 0 ? Math.Min(scaled, trace.MaxInputTokens) : scaled;
        int output = trace.MaxOutputTokens > 0 ? Math.Min(r.OutputTokens, trace.MaxOutputTokens) : r.OutputTokens;
        ulong[]? ids = r.BlockIds is { } blockIds ? Shift(blockIds, input, idOffset) : null;
        return new RequestShape(index, arrivalMs, region, input, Math.Max(1, output), ids);
    }

    /// <summary>One more than the trace's largest block id: copies shift their ids by multiples of it.</summary>
    private static ulong IdSpan(List<TraceRequest> source) =>
        source.Where(r => r.BlockIds is not null).SelectMany(r => r.BlockIds!).DefaultIfEmpty(0UL).Max() + 1;

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
