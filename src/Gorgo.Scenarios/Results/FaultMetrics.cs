using System.Text.Json.Serialization;
using Gorgo.Routing.Options;

namespace Gorgo.Scenarios.Results;

/// <summary>A fault as a run executed it: what, and when (ms from the start of the replay).</summary>
public readonly record struct ExecutedFault(FaultSpec Spec, double AtMs);

/// <summary>What one fault did to a run, measured from its requests' records.</summary>
public sealed record FaultOutcome
{
    /// <summary>The fault's kind, e.g. <c>kill-node</c>.</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }

    /// <summary>The region or replica it hit.</summary>
    [JsonPropertyName("target")] public required string Target { get; init; }

    /// <summary>The other region of a partition or heal.</summary>
    [JsonPropertyName("peer")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Peer { get; init; }

    /// <summary>When it happened, ms from the start of the replay.</summary>
    [JsonPropertyName("at_ms")] public double AtMs { get; init; }

    /// <summary>Requests in flight at that moment that it touched: they entered through the target or were being served there (a partition: entered on one side and served on the other).</summary>
    [JsonPropertyName("in_flight")] public int InFlight { get; init; }

    /// <summary>Of those, how many completed (on the replica they had, or on another after a retry).</summary>
    [JsonPropertyName("in_flight_completed")] public int InFlightCompleted { get; init; }

    /// <summary>Of those, how many ended with an error event or an error status.</summary>
    [JsonPropertyName("in_flight_failed_cleanly")] public int InFlightFailedCleanly { get; init; }

    /// <summary>Of those, how many were lost (cut with neither <c>[DONE]</c> nor an error event, or hung past their deadline).</summary>
    [JsonPropertyName("in_flight_lost")] public int InFlightLost { get; init; }

    /// <summary>Of the lost, how many had entered through the node the fault killed: their connection ended with its process, which no other node can answer for.</summary>
    [JsonPropertyName("in_flight_lost_at_killed_entry")] public int InFlightLostAtKilledEntry { get; init; }

    /// <summary>Kill or stop: from the fault to the send time of the last request any node still routed (or tried) to the target region before it restarted; 0 when none was.</summary>
    [JsonPropertyName("dead_routed_after_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? DeadRoutedAfterMs { get; init; }

    /// <summary>Restart: from the fault to the first token a replica of the target region delivered; null when it served nothing afterwards.</summary>
    [JsonPropertyName("rejoined_after_ms")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RejoinedAfterMs { get; init; }
}

/// <summary>Measures, from a run's records, what each of its faults did (<see cref="FaultOutcome"/>).</summary>
public static class FaultMetrics
{
    /// <summary>
    /// The run's summary with its faults' outcomes, the longest <c>dead_routed_after_ms</c> and the longest
    /// <c>rejoined_after_ms</c>. <paramref name="regionOf"/> gives a replica id's region (null when unknown).
    /// </summary>
    public static RunSummary Apply(RunSummary summary, IReadOnlyList<ExecutedFault> faults, IReadOnlyList<RequestRecord> records, Func<string, string?> regionOf)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(faults);
        if (faults.Count == 0)
        {
            return summary;
        }

        List<FaultOutcome> outcomes = faults.Select(f => Measure(f, faults, records, regionOf)).ToList();
        return summary with
        {
            Faults = outcomes,
            DeadRoutedAfterMs = outcomes.Max(o => o.DeadRoutedAfterMs),
            RejoinedAfterMs = LongestRejoin(outcomes),
        };
    }

    /// <summary>The longest time a restarted node took to serve again; null when nothing restarted or a restarted node never served.</summary>
    private static double? LongestRejoin(List<FaultOutcome> outcomes)
    {
        List<FaultOutcome> restarts = outcomes.Where(o => o.Kind == EnumNames<FaultKind>.Name(FaultKind.RestartNode)).ToList();
        return restarts.Count == 0 || restarts.Any(o => o.RejoinedAfterMs is null) ? null : restarts.Max(o => o.RejoinedAfterMs);
    }

    /// <summary>One fault's outcome.</summary>
    public static FaultOutcome Measure(ExecutedFault fault, IReadOnlyList<ExecutedFault> all, IReadOnlyList<RequestRecord> records, Func<string, string?> regionOf)
    {
        ArgumentNullException.ThrowIfNull(all);
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(regionOf);
        FaultSpec spec = fault.Spec;
        double at = fault.AtMs;
        RequestRecord[] touched = records.Where(r => InFlightAt(r, at) && Touches(r, spec, regionOf)).ToArray();
        RequestRecord[] lost = touched.Where(r => r.EffectiveEnding.IsLost()).ToArray();
        return new FaultOutcome
        {
            Kind = spec.KindName,
            Target = spec.Target,
            Peer = spec.Peer,
            AtMs = Math.Round(at, 1),
            InFlight = touched.Length,
            InFlightCompleted = touched.Count(r => r.Completed),
            InFlightFailedCleanly = touched.Count(r => !r.Completed && !r.EffectiveEnding.IsLost()),
            InFlightLost = lost.Length,
            InFlightLostAtKilledEntry = spec.Kind == FaultKind.KillNode ? lost.Count(r => r.EntryRegion == spec.Target) : 0,
            DeadRoutedAfterMs = spec.TakesNodeDown ? DeadRoutedAfter(spec.Target, at, NextRestart(spec.Target, at, all), records, regionOf) : null,
            RejoinedAfterMs = spec.Kind == FaultKind.RestartNode ? RejoinedAfter(spec.Target, at, records) : null,
        };
    }

    /// <summary>Whether the request had been sent and had not ended before <paramref name="atMs"/> (one that ended at that very moment ended because of it; no known end: it never ended).</summary>
    public static bool InFlightAt(RequestRecord record, double atMs)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.ArrivalMs <= atMs && (record.EndMs is not { } end || end >= atMs);
    }

    private static bool Touches(RequestRecord r, FaultSpec spec, Func<string, string?> regionOf)
    {
        if (spec.IsReplicaFault)
        {
            return r.Replica == spec.Target || r.TriedReplicas.Contains(spec.Target);
        }

        IEnumerable<string?> served = r.TriedReplicas.Select(regionOf).Append(r.ServedRegion);
        if (spec.Kind is FaultKind.Partition or FaultKind.Heal)
        {
            return (r.EntryRegion == spec.Target && served.Contains(spec.Peer)) || (r.EntryRegion == spec.Peer && served.Contains(spec.Target));
        }

        return r.EntryRegion == spec.Target || served.Contains(spec.Target);
    }

    private static double NextRestart(string region, double atMs, IReadOnlyList<ExecutedFault> all) =>
        all.Where(f => f.Spec.Kind == FaultKind.RestartNode && f.Spec.Target == region && f.AtMs > atMs).Select(f => f.AtMs).DefaultIfEmpty(double.PositiveInfinity).Min();

    private static double DeadRoutedAfter(string region, double downAtMs, double upAtMs, IReadOnlyList<RequestRecord> records, Func<string, string?> regionOf) =>
        records.Where(r => r.ArrivalMs >= downAtMs && r.ArrivalMs < upAtMs && (r.ServedRegion == region || r.TriedReplicas.Any(t => regionOf(t) == region)))
            .Select(r => Math.Round(r.ArrivalMs - downAtMs, 1))
            .DefaultIfEmpty(0)
            .Max();

    private static double? RejoinedAfter(string region, double upAtMs, IReadOnlyList<RequestRecord> records)
    {
        double[] firsts = records.Where(r => r.ServedRegion == region && r.TtftMs is not null && r.ArrivalMs + r.TtftMs >= upAtMs)
            .Select(r => r.ArrivalMs + r.TtftMs!.Value - upAtMs)
            .ToArray();
        return firsts.Length == 0 ? null : Math.Round(firsts.Min(), 1);
    }
}
