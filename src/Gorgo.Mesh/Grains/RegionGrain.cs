using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;

namespace Gorgo.Mesh.Grains;

/// <summary>The gossip, probe and exact-state endpoint of a region, placed on that region's silo; the state itself is the node's <see cref="RegionState"/>.</summary>
[RegionPlacement, GrainType("region")]
public sealed class RegionGrain(RegionState region) : Grain, IRegionGrain
{
    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        MeshKeys.RegionOf(this.GetPrimaryKeyString()) == region.Region
            ? Task.CompletedTask
            : throw new InvalidOperationException($"The region grain of '{this.GetPrimaryKeyString()}' was placed on the node of '{region.Region}'.");

    /// <inheritdoc />
    public Task<byte[]> Exchange(byte[] gossip) => Task.FromResult(region.OnGossip(gossip));

    /// <inheritdoc />
    public Task<byte[]> GetExactState(string requester) => Task.FromResult(region.OnSyncQuery(requester));

    /// <inheritdoc />
    public Task Ping() => Task.CompletedTask;
}
