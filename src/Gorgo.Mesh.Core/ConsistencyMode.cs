using System.ComponentModel;
using System.Text.Json.Serialization;
using Gorgo.Routing.Options;

namespace Gorgo.Mesh.Core;

/// <summary>How much of other regions' state a mesh node routes on (<c>local-only</c>, <c>gossip</c>, <c>sync</c>; <c>shared</c> in the simulator only).</summary>
[JsonConverter(typeof(EnumNameJsonConverter<ConsistencyMode>))]
[TypeConverter(typeof(EnumNameTypeConverter<ConsistencyMode>))]
public enum ConsistencyMode
{
    /// <summary>Digests carry no load and no prefix summaries: a node knows only its own replicas' state and serves at home unless every home replica is saturated.</summary>
    LocalOnly,

    /// <summary>Nodes route on versioned digests gossiped every interval (the default).</summary>
    Gossip,

    /// <summary>Before every decision a node queries every peer region's exact state (one RTT to the farthest).</summary>
    Sync,

    /// <summary>Simulator only: every node sees every nearby replica's exact load and cache at once, for free (the bound a digest budget is measured against).</summary>
    Shared,
}

/// <summary>What a <see cref="ConsistencyMode"/> implies.</summary>
public static class ConsistencyModes
{
    /// <summary>The settings a live node accepts (<c>shared</c> exists only in the simulator).</summary>
    public static IReadOnlyList<ConsistencyMode> Live { get; } = [ConsistencyMode.LocalOnly, ConsistencyMode.Gossip, ConsistencyMode.Sync];

    /// <summary>Whether digests under <paramref name="mode"/> carry load and prefix summaries.</summary>
    public static bool SharesState(this ConsistencyMode mode) => mode != ConsistencyMode.LocalOnly;

    /// <summary>The routing scope a node under <paramref name="mode"/> decides with unless one is configured: <c>local-first</c> under <c>local-only</c>, else <c>global</c>.</summary>
    public static Gorgo.Routing.RoutingScope Scope(this ConsistencyMode mode) =>
        mode == ConsistencyMode.LocalOnly ? Gorgo.Routing.RoutingScope.LocalFirst : Gorgo.Routing.RoutingScope.Global;

    /// <summary>The name of a setting, e.g. <c>local-only</c>.</summary>
    public static string Name(this ConsistencyMode mode) => EnumNames<ConsistencyMode>.Name(mode);
}
