using System.Text.Json.Serialization;
using Gorgo.Routing.Options;

namespace Gorgo.Scenarios;

/// <summary>What a scheduled fault does.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<FaultKind>))]
public enum FaultKind
{
    /// <summary>The region's node dies at once, as under <c>kill -9</c> (<c>kill-node</c>).</summary>
    KillNode,

    /// <summary>The region's node, killed or stopped earlier, starts again with empty caches (<c>restart-node</c>).</summary>
    RestartNode,

    /// <summary>The region's node gets SIGTERM: it drains and leaves (<c>stop-node</c>).</summary>
    StopNode,

    /// <summary>Mesh traffic between the target region and its peer stalls until Orleans' response timeout (<c>partition</c>).</summary>
    Partition,

    /// <summary>Ends the partition between the target region and its peer (<c>heal</c>).</summary>
    Heal,

    /// <summary>The target replica's engine runs every step <c>factor</c> times slower (<c>slow-replica</c>).</summary>
    SlowReplica,

    /// <summary>The target replica fails its streams and new requests, and reports itself unhealthy (<c>fail-replica</c>).</summary>
    FailReplica,

    /// <summary>The target replica runs normally again after <c>slow-replica</c> or <c>fail-replica</c> (<c>restore-replica</c>).</summary>
    RestoreReplica,
}

/// <summary>One scheduled fault of a scenario (its <c>faults</c> list), at a time from the start of each run's replay.</summary>
public sealed record FaultSpec
{
    /// <summary>Seconds from the start of the replay.</summary>
    public double AtSeconds { get; init; }

    /// <summary>What happens.</summary>
    public FaultKind Kind { get; init; }

    /// <summary>A region (node faults, partition and heal) or a replica id (replica faults).</summary>
    public string Target { get; init; } = string.Empty;

    /// <summary>The other region of a partition or heal.</summary>
    public string? Peer { get; init; }

    /// <summary>How many times slower a slow replica runs (default 4).</summary>
    public double Factor { get; init; } = 4;

    /// <summary>The kind's name, e.g. <c>kill-node</c>.</summary>
    [JsonIgnore]
    public string KindName => EnumNames<FaultKind>.Name(Kind);

    /// <summary>Whether it kills, stops or restarts a node.</summary>
    [JsonIgnore]
    public bool IsNodeFault => Kind is FaultKind.KillNode or FaultKind.StopNode or FaultKind.RestartNode;

    /// <summary>Whether it acts on one replica.</summary>
    [JsonIgnore]
    public bool IsReplicaFault => Kind is FaultKind.SlowReplica or FaultKind.FailReplica or FaultKind.RestoreReplica;

    /// <summary>Whether it takes its target region's node down (kill or SIGTERM).</summary>
    [JsonIgnore]
    public bool TakesNodeDown => Kind is FaultKind.KillNode or FaultKind.StopNode;

    /// <summary>A short label, e.g. <c>kill-node eu-central @20s</c>.</summary>
    public override string ToString() => $"{KindName} {Target}{(Peer is null ? string.Empty : "/" + Peer)} @{AtSeconds:0.###}s";
}

/// <summary>Checks a scenario's fault schedule against its regions, replicas and runs.</summary>
public static class FaultSchedule
{
    /// <summary>
    /// Problems with <paramref name="faults"/>, empty when valid: known targets; a restart only of a node that is down
    /// and no kill or stop of one that is; partitions between two distinct regions; and nothing that takes down the
    /// first region's node, which holds the cluster's primary silo (localhost clustering).
    /// </summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<FaultSpec> faults, IReadOnlyList<string> regions, Func<string, IEnumerable<string>> replicaIds, IReadOnlyList<RunSpec> runs)
    {
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(regions);
        ArgumentNullException.ThrowIfNull(replicaIds);
        ArgumentNullException.ThrowIfNull(runs);
        var errors = new OptionsErrors();
        if (faults.Count == 0)
        {
            return errors.Errors;
        }

        errors.Check(runs.All(r => r.Mode == DeploymentMode.Mesh), "faults apply to mesh runs only: remove the proxy runs or the faults.");
        var replicas = new HashSet<string>(regions.SelectMany(replicaIds), StringComparer.Ordinal);
        var down = new HashSet<string>(StringComparer.Ordinal);
        foreach (FaultSpec fault in faults.OrderBy(f => f.AtSeconds))
        {
            string at = $"faults: {fault}";
            errors.Finite(fault.AtSeconds, $"{at}: atSeconds")
                .Check(Enum.IsDefined(fault.Kind), EnumNames<FaultKind>.Expected($"{at}: kind", fault.Kind.ToString()));
            if (fault.IsReplicaFault)
            {
                errors.Check(replicas.Contains(fault.Target), $"{at}: target must be a replica id ({string.Join(", ", replicas.Order(StringComparer.Ordinal))}).")
                    .Check(fault.Kind != FaultKind.SlowReplica || (double.IsFinite(fault.Factor) && fault.Factor >= 1), $"{at}: factor must be a finite number >= 1 (got {fault.Factor}).");
                continue;
            }

            if (!regions.Contains(fault.Target))
            {
                errors.Check(false, $"{at}: target must be a region ({string.Join(", ", regions)}).");
                continue;
            }

            switch (fault.Kind)
            {
                case FaultKind.KillNode or FaultKind.StopNode:
                    errors.Check(fault.Target != regions[0], $"{at}: the first region's node holds the cluster's primary silo and cannot be taken down; list another region first.")
                        .Check(down.Add(fault.Target), $"{at}: the node is already down.");
                    break;
                case FaultKind.RestartNode:
                    errors.Check(down.Remove(fault.Target), $"{at}: only a node that a kill-node or stop-node took down can be restarted.");
                    break;
                case FaultKind.Partition or FaultKind.Heal:
                    errors.Check(fault.Peer is not null && regions.Contains(fault.Peer) && fault.Peer != fault.Target, $"{at}: peer must be another region ({string.Join(", ", regions)}).");
                    break;
            }
        }

        return errors.Errors;
    }
}
