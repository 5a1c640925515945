using System.Text.Json.Serialization;

namespace Gorgo.Bench.Results;

/// <summary>Mean and percentiles of a latency, ms.</summary>
public sealed record LatencyStats(
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("p50")] double P50,
    [property: JsonPropertyName("p90")] double P90,
    [property: JsonPropertyName("p99")] double P99)
{
    /// <summary>Stats of no samples (all zero).</summary>
    public static LatencyStats Empty { get; } = new(0, 0, 0, 0);

    /// <summary>Mean and nearest-rank percentiles of <paramref name="values"/>.</summary>
    public static LatencyStats Of(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted.Length == 0
            ? Empty
            : new LatencyStats(sorted.Average(), Percentile(sorted, 0.50), Percentile(sorted, 0.90), Percentile(sorted, 0.99));
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>P50 and P99 of the age of the state behind decisions, ms.</summary>
public sealed record AgeStats([property: JsonPropertyName("p50")] double P50, [property: JsonPropertyName("p99")] double P99);

/// <summary>One run's results, as <c>summary.json</c> reports them.</summary>
public sealed record RunSummary
{
    /// <summary>Run name.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }

    /// <summary><c>mesh</c> or <c>proxy</c>.</summary>
    [JsonPropertyName("mode")] public required string Mode { get; init; }

    /// <summary>Policy.</summary>
    [JsonPropertyName("policy")] public required string Policy { get; init; }

    /// <summary>Consistency of a mesh run; null for proxy runs.</summary>
    [JsonPropertyName("consistency")] public string? Consistency { get; init; }

    /// <summary>Requests sent.</summary>
    [JsonPropertyName("requests")] public int Requests { get; init; }

    /// <summary>Requests that finished normally.</summary>
    [JsonPropertyName("completed")] public int Completed { get; init; }

    /// <summary>Requests that did not (error status, broken stream, timeout, cancelled).</summary>
    [JsonPropertyName("failed")] public int Failed { get; init; }

    /// <summary>TTFT of completed requests.</summary>
    [JsonPropertyName("ttft_ms")] public LatencyStats TtftMs { get; init; } = LatencyStats.Empty;

    /// <summary>End-to-end time of completed requests.</summary>
    [JsonPropertyName("e2e_ms")] public LatencyStats E2eMs { get; init; } = LatencyStats.Empty;

    /// <summary>Cached prompt tokens / prompt tokens, over completed requests.</summary>
    [JsonPropertyName("prefix_hit_rate")] public double PrefixHitRate { get; init; }

    /// <summary>Share of completed requests served outside the user's region.</summary>
    [JsonPropertyName("cross_region_fraction")] public double CrossRegionFraction { get; init; }

    /// <summary>Share of completed requests that were pathological forwards.</summary>
    [JsonPropertyName("pathological_fraction")] public double PathologicalFraction { get; init; }

    /// <summary>Age of the state behind decisions.</summary>
    [JsonPropertyName("state_age_ms")] public AgeStats StateAgeMs { get; init; } = new(0, 0);

    /// <summary>Failed requests by HTTP status (0: no response).</summary>
    [JsonPropertyName("failures_by_status")] public Dictionary<string, int> FailuresByStatus { get; init; } = [];

    /// <summary>Completed requests by the region that served them.</summary>
    [JsonPropertyName("served_by_region")] public Dictionary<string, int> ServedByRegion { get; init; } = [];

    /// <summary>Summarises a run's records.</summary>
    public static RunSummary From(string name, string mode, string policy, string? consistency, IReadOnlyList<RequestRecord> records)
    {
        RequestRecord[] done = records.Where(r => r.Completed).ToArray();
        long prompt = done.Sum(r => (long)r.PromptTokens);
        return new RunSummary
        {
            Name = name,
            Mode = mode,
            Policy = policy,
            Consistency = consistency,
            Requests = records.Count,
            Completed = done.Length,
            Failed = records.Count - done.Length,
            TtftMs = LatencyStats.Of(done.Select(r => r.TtftMs ?? 0)),
            E2eMs = LatencyStats.Of(done.Select(r => r.E2eMs ?? 0)),
            PrefixHitRate = prompt == 0 ? 0 : done.Sum(r => (long)r.CachedTokens) / (double)prompt,
            CrossRegionFraction = done.Length == 0 ? 0 : done.Count(r => r.CrossRegion) / (double)done.Length,
            PathologicalFraction = done.Length == 0 ? 0 : done.Count(r => r.Pathological == true) / (double)done.Length,
            StateAgeMs = Ages(done),
            FailuresByStatus = records.Where(r => !r.Completed).GroupBy(r => r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()),
            ServedByRegion = done.Where(r => r.ServedRegion is not null).GroupBy(r => r.ServedRegion!).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()),
        };
    }

    private static AgeStats Ages(RequestRecord[] done)
    {
        double[] ages = done.Where(r => r.StateAgeMs is not null).Select(r => r.StateAgeMs!.Value).Order().ToArray();
        return ages.Length == 0 ? new AgeStats(0, 0) : new AgeStats(LatencyStats.Percentile(ages, 0.5), LatencyStats.Percentile(ages, 0.99));
    }
}

/// <summary>The whole of <c>summary.json</c>.</summary>
public sealed record BenchSummary
{
    /// <summary>Scenario name.</summary>
    [JsonPropertyName("scenario")] public required string Scenario { get; init; }

    /// <summary>Scenario seed.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; }

    /// <summary>Whether the runs were simulated (<c>gorgo sim</c>) rather than live (<c>gorgo bench</c>).</summary>
    [JsonPropertyName("simulated")] public bool Simulated { get; init; }

    /// <summary>The runs, in scenario order.</summary>
    [JsonPropertyName("runs")] public List<RunSummary> Runs { get; init; } = [];

    /// <summary>Wall-clock seconds the whole benchmark took (not part of any run's results).</summary>
    [JsonPropertyName("wall_seconds")] public double WallSeconds { get; init; }

    /// <summary>Whether every run replayed its whole workload (false after Ctrl+C or a time limit).</summary>
    [JsonPropertyName("complete")] public bool Complete { get; init; } = true;
}
