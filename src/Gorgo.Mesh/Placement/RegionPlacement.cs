using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Gorgo.Mesh.Placement;

/// <summary>Places a grain on the silo of the region its key names (replica and region grains live in their own region).</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class RegionPlacement : PlacementStrategy
{
}

/// <summary>Marks a grain class for <see cref="RegionPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class RegionPlacementAttribute : PlacementAttribute
{
    /// <summary>Creates the attribute.</summary>
    public RegionPlacementAttribute()
        : base(new RegionPlacement())
    {
    }
}

/// <summary>Chooses the active silo whose name is the grain's region's node name; fails when that region has no live node.</summary>
public sealed class RegionPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    /// <inheritdoc />
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string region = MeshKeys.RegionOf(target.GrainIdentity.Key.ToString()!);
        SiloAddress[] compatible = context.GetCompatibleSilos(target);
        SiloAddress? silo = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && MeshKeys.RegionOfSilo(m.Name) == region && compatible.Contains(m.SiloAddress))
            .Select(m => m.SiloAddress)
            .FirstOrDefault();
        return silo is not null
            ? Task.FromResult(silo)
            : Task.FromException<SiloAddress>(new OrleansException($"No live node serves region '{region}'."));
    }
}
