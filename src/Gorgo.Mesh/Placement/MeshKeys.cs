namespace Gorgo.Mesh.Placement;

/// <summary>How grain keys and silo names encode regions, so placement and WAN emulation can read a grain's region.</summary>
public static class MeshKeys
{
    private const string SiloPrefix = "gorgo-";
    private static readonly GrainType ReplicaGrainType = GrainType.Create("replica");
    private static readonly GrainType RegionGrainType = GrainType.Create("region");

    /// <summary>Key of a replica grain: <c>{region}/{replicaId}</c>.</summary>
    public static string Replica(string region, string replicaId) => $"{region}/{replicaId}";

    /// <summary>Key of a region grain: the region name.</summary>
    public static string Region(string region) => region;

    /// <summary>The region a replica or region grain key belongs to.</summary>
    public static string RegionOf(string key)
    {
        int slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? key : key[..slash];
    }

    /// <summary>The region of a replica or region grain, or null for any other grain.</summary>
    public static string? RegionOfMeshGrain(GrainId grain) =>
        grain.Type.Equals(ReplicaGrainType) || grain.Type.Equals(RegionGrainType) ? RegionOf(grain.Key.ToString()!) : null;

    /// <summary>The replica id in a replica grain key.</summary>
    public static string ReplicaIdOf(string key)
    {
        int slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? throw new ArgumentException($"'{key}' is not a replica grain key.", nameof(key)) : key[(slash + 1)..];
    }

    /// <summary>The Orleans silo name of a region's node.</summary>
    public static string SiloName(string region) => SiloPrefix + region;

    /// <summary>The region of a node's silo name, or null for a silo that is not a mesh node.</summary>
    public static string? RegionOfSilo(string? siloName) =>
        siloName is not null && siloName.StartsWith(SiloPrefix, StringComparison.Ordinal) ? siloName[SiloPrefix.Length..] : null;
}
