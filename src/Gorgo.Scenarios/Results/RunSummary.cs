using System.Text.Json.Serialization;

namespace Gorgo.Scenarios.Results;

/// <summary>Mean and percentiles of a latency, ms.</summary>
public sealed record LatencyStats(
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("p50")] double P50,
    [property: JsonPropertyName("p90")] double P90,
    [property: JsonPropertyName("p99")] double P99)
{
    /// <summary>Stats of no samples (all zero).</summary>
    public static LatencyStats Empty { get; } = new(0, 0, 0, 0);
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

    /// <summary>Where the run's routers may send a request: <c>global</c> or <c>local-first</c> (home while a home replica has a free batch slot, else one hop).</summary>
    [JsonPropertyName("scope")] public string? Scope { get; init; }

    /// <summary>Requests sent.</summary>
    [JsonPropertyName("requests")] public int Requests { get; init; }

    /// <summary>Requests that finished normally.</summary>
    [JsonPropertyName("completed")] public int Completed { get; init; }

    /// <summary>Requests that did not (error status, broken stream, timeout, cancelled).</summary>
    [JsonPropertyName("failed")] public int Failed { get; init; }

    /// <summary>TTFT of completed requests.</summary>
    /// <summary>Completed requests per second, from the first request's arrival to the last response's end.</summary>
    [JsonPropertyName("throughput_rps")] public double ThroughputRps { get; init; }

    /// <summary>Generated tokens per second over the same span.</summary>
    [JsonPropertyName("output_tokens_per_s")] public double OutputTokensPerS { get; init; }

    [JsonPropertyName("ttft_ms")] public LatencyStats TtftMs { get; init; } = LatencyStats.Empty;

    /// <summary>End-to-end time of completed requests.</summary>
    [JsonPropertyName("e2e_ms")] public LatencyStats E2eMs { get; init; } = LatencyStats.Empty;

    /// <summary>Cached prompt tokens / prompt tokens, over completed requests.</summary>
    [JsonPropertyName("prefix_hit_rate")] public double PrefixHitRate { get; init; }

    /// <summary>Share of completed requests served outside the user's region.</summary>
    [JsonPropertyName("cross_region_fraction")] public double CrossRegionFraction { get; init; }

    /// <summary>
    /// Share of completed requests whose decision overrode an idle home replica with as good a match, as the router saw
    /// it: a counter of what a policy does (GORGO's stay-home rule rules it out by construction), not of harm.
    /// </summary>
    [JsonPropertyName("home_idle_override_fraction")] public double HomeIdleOverrideFraction { get; init; }

    /// <summary>
    /// Share of completed requests sent to another region whose realized TTFT exceeded the TTFT forecast, from the true
    /// engine states when the request reached its ingress, at the best replica of the client's region; null where it
    /// cannot be computed (live runs).
    /// </summary>
    [JsonPropertyName("harmful_forward_fraction")] public double? HarmfulForwardFraction { get; init; }

    /// <summary>Realized TTFT minus the best forecast TTFT over every replica the deployment could use (null where it cannot be computed).</summary>
    [JsonPropertyName("regret_ms")] public LatencyStats? RegretMs { get; init; }

    /// <summary>Realized TTFT minus the router's estimate for the chosen replica (null when the router gave none).</summary>
    [JsonPropertyName("estimate_error_ms")] public LatencyStats? EstimateErrorMs { get; init; }

    /// <summary>Age of the state behind decisions.</summary>
    [JsonPropertyName("state_age_ms")] public AgeStats StateAgeMs { get; init; } = new(0, 0);

    /// <summary>Requests left without an answer or an error: streams cut with neither <c>[DONE]</c> nor an error event, or hung past their deadline.</summary>
    [JsonPropertyName("lost")] public int Lost { get; init; }

    /// <summary>Failed requests that got no token: refused, unanswered, or ended with an error before their first token.</summary>
    [JsonPropertyName("failed_before_first_token")] public int FailedBeforeFirstToken { get; init; }

    /// <summary>Streams that ended with an error event (after their status was sent).</summary>
    [JsonPropertyName("ended_with_error_event")] public int EndedWithErrorEvent { get; init; }

    /// <summary>Requests the front door tried on more than one replica before their first token.</summary>
    [JsonPropertyName("retried")] public int Retried { get; init; }

    /// <summary>Live runs through gateways (<c>mesh.gateways</c>): times a gateway moved a request on to the next node because one did not answer; null without gateways.</summary>
    [JsonPropertyName("gateway_failed_over")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? GatewayFailedOver { get; init; }

    /// <summary>Kill or stop of a node: the longest time from the fault to the last request still routed there (see <see cref="FaultOutcome.DeadRoutedAfterMs"/>); null without such faults.</summary>
    [JsonPropertyName("dead_routed_after_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? DeadRoutedAfterMs { get; init; }

    /// <summary>Restart of a node: the longest time from the restart to its region's first token; null without restarts or when a restarted node never served.</summary>
    [JsonPropertyName("rejoined_after_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RejoinedAfterMs { get; init; }

    /// <summary>What each injected fault did; null without faults.</summary>
    [JsonPropertyName("faults")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<FaultOutcome>? Faults { get; init; }

    /// <summary>Failed requests by HTTP status (0: no response).</summary>
    [JsonPropertyName("failures_by_status")] public Dictionary<string, int> FailuresByStatus { get; init; } = [];

    /// <summary>Completed requests by the region that served them.</summary>
    [JsonPropertyName("served_by_region")] public Dictionary<string, int> ServedByRegion { get; init; } = [];

    /// <summary>Gossip and sync bytes each mesh node sent per second of the run, on average (simulated mesh runs).</summary>
    [JsonPropertyName("gossip_bytes_per_node_per_s")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? GossipBytesPerNodePerS { get; init; }

    /// <summary>TTFT at the quantiles 0.5 %, 1 %, ..., 100 % (for the CDF plot; not written to JSON).</summary>
    [JsonIgnore] public double[] TtftQuantiles { get; init; } = [];

    /// <summary>Summarises a run's records (through a <see cref="RunAccumulator"/>).</summary>
    public static RunSummary From(string name, string mode, string policy, string? consistency, string? scope, IEnumerable<RequestRecord> records)
    {
        var accumulator = new RunAccumulator(name, mode, policy, consistency, scope);
        foreach (RequestRecord record in records)
        {
            accumulator.Add(record);
        }

        return accumulator.ToSummary();
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

    /// <summary>What the simulator spent (wall-clock figures, so not part of any run's results); null for live runs.</summary>
    [JsonPropertyName("simulation")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SimulationStats? Simulation { get; init; }
}

/// <summary>Wall-clock cost of a simulation.</summary>
public sealed record SimulationStats
{
    /// <summary>Events processed over all runs.</summary>
    [JsonPropertyName("events")] public long Events { get; init; }

    /// <summary>Events per wall-clock second (over all runs, in parallel).</summary>
    [JsonPropertyName("events_per_s")] public double EventsPerSecond { get; init; }

    /// <summary>Requests simulated over all runs.</summary>
    [JsonPropertyName("requests")] public long Requests { get; init; }

    /// <summary>Virtual seconds of the longest run.</summary>
    [JsonPropertyName("virtual_seconds")] public double VirtualSeconds { get; init; }

    /// <summary>Runs simulated at once.</summary>
    [JsonPropertyName("parallel_runs")] public int ParallelRuns { get; init; }

    /// <summary>Peak working set of the process, MiB.</summary>
    [JsonPropertyName("peak_memory_mib")] public double PeakMemoryMiB { get; init; }

    /// <summary>Wall-clock seconds each run took, by run name (runs in parallel overlap).</summary>
    [JsonPropertyName("run_seconds")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? RunSeconds { get; init; }
}
