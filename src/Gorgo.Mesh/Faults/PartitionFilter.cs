using Gorgo.Mesh.Placement;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Gorgo.Mesh.Faults;

/// <summary>
/// Emulates a network partition above the transport: a call from this node to a replica or region grain of a region
/// it is partitioned from is never delivered, and fails as Orleans fails a call whose message went nowhere, with a
/// <see cref="TimeoutException"/> after the silo's response timeout (unless the caller gives up first). Orleans' own
/// membership probes are not affected, as indirect probes through a third region would keep both sides members.
/// </summary>
public sealed class PartitionFilter(NodeFaults faults, IOptions<SiloMessagingOptions> messaging) : IOutgoingGrainCallFilter
{
    /// <inheritdoc />
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (MeshKeys.RegionOfMeshGrain(context.TargetId) is { } region && faults.IsPartitionedFrom(region))
        {
            TimeSpan timeout = messaging.Value.ResponseTimeout;
            await Task.Delay(timeout).ConfigureAwait(false);
            throw new TimeoutException($"No answer from region '{region}' within {timeout.TotalSeconds:F0} s: the network between the regions is partitioned (injected fault).");
        }

        await context.Invoke().ConfigureAwait(false);
    }
}
