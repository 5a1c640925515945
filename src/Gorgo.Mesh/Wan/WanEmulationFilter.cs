using Gorgo.Mesh.Placement;
using Gorgo.Routing.Fleet;

namespace Gorgo.Mesh.Wan;

/// <summary>
/// Emulates wide-area latency on one machine: every call from this node to a replica or region grain of another
/// region waits half the configured RTT before it leaves and half again before its answer is returned. Streams are
/// Orleans long-polling calls, so a stream's first chunk pays the full RTT and later batches one RTT each, as they
/// would across real regions. On only when configured.
/// </summary>
public sealed class WanEmulationFilter(string region, RttMatrix rtt) : IOutgoingGrainCallFilter
{
    /// <inheritdoc />
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        double oneWayMs = OneWayMs(context.TargetId);
        if (oneWayMs <= 0)
        {
            await context.Invoke().ConfigureAwait(false);
            return;
        }

        await Task.Delay(TimeSpan.FromMilliseconds(oneWayMs)).ConfigureAwait(false);
        await context.Invoke().ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromMilliseconds(oneWayMs)).ConfigureAwait(false);
    }

    /// <summary>Half the RTT from this node's region to the target grain's, or 0 for local or non-mesh grains.</summary>
    public double OneWayMs(GrainId target)
    {
        string? targetRegion = MeshKeys.RegionOfMeshGrain(target);
        return targetRegion is null || targetRegion == region || !rtt.Contains(targetRegion) ? 0 : rtt.Get(region, targetRegion) / 2;
    }
}
