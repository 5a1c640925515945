using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Gorgo.Mesh.State;

namespace Gorgo.Mesh.Faults;

/// <summary>A fault injected into one node through <c>POST /admin/faults</c> (only with <c>FaultInjection</c> on).</summary>
public sealed record NodeFaultRequest
{
    /// <summary><c>partition</c> or <c>heal</c> (target: the other region), <c>slow-replica</c>, <c>fail-replica</c> or <c>restore-replica</c> (target: a local replica id).</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = string.Empty;

    /// <summary>The other region, or the local replica.</summary>
    [JsonPropertyName("target")] public string Target { get; init; } = string.Empty;

    /// <summary>How many times slower a slow replica runs.</summary>
    [JsonPropertyName("factor")] public double Factor { get; init; } = 4;
}

/// <summary>
/// The faults a node is under: the regions it is partitioned from (its calls to their grains stall, see
/// <see cref="PartitionFilter"/>) and its local replicas' injected slowness or failure. For fault scenarios and
/// failure tests; a node without <c>FaultInjection</c> never changes it.
/// </summary>
public sealed class NodeFaults(RegionState state)
{
    private readonly ConcurrentDictionary<string, bool> _partitioned = new(StringComparer.Ordinal);

    /// <summary>Whether this node is cut off from <paramref name="region"/>.</summary>
    public bool IsPartitionedFrom(string region) => !_partitioned.IsEmpty && _partitioned.ContainsKey(region);

    /// <summary>The regions this node is cut off from, in name order.</summary>
    public IReadOnlyList<string> Partitions => _partitioned.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Applies a fault; returns null, or the reason it cannot (an unknown kind, region or replica).</summary>
    public string? Apply(NodeFaultRequest fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        switch (fault.Kind)
        {
            case "partition" or "heal":
                if (!state.ConfiguredRtt.Contains(fault.Target) || fault.Target == state.Region)
                {
                    return $"'{fault.Target}' is not another region of the mesh.";
                }

                if (fault.Kind == "partition")
                {
                    _partitioned[fault.Target] = true;
                }
                else
                {
                    _partitioned.TryRemove(fault.Target, out _);
                }

                return null;
            case "slow-replica" or "fail-replica" or "restore-replica":
                if (state.FindLocal(fault.Target) is not { } replica)
                {
                    return $"'{fault.Target}' is not a replica of region '{state.Region}' ({string.Join(", ", state.Local.Keys)}).";
                }

                if (fault.Kind == "slow-replica" && !(double.IsFinite(fault.Factor) && fault.Factor >= 1))
                {
                    return $"factor must be a finite number >= 1 (got {fault.Factor}).";
                }

                return fault.Kind switch
                {
                    "slow-replica" => replica.Slow(fault.Factor),
                    "fail-replica" => replica.Fail(),
                    _ => replica.Restore(),
                };
            default:
                return $"kind must be one of partition, heal, slow-replica, fail-replica, restore-replica (got '{fault.Kind}').";
        }
    }
}
