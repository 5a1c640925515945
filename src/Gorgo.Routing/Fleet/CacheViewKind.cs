namespace Gorgo.Routing.Fleet;

/// <summary>How a router knows a replica's prefix cache.</summary>
public enum CacheViewKind : byte
{
    /// <summary>Learnt from the router's own decisions (and, for emulated replicas, the engine's events): an approximation.</summary>
    Decisions,

    /// <summary>Exactly the engine's blocks, from its KV events; decisions are not recorded.</summary>
    Exact,

    /// <summary>From KV events, but some were lost: the router also learns from its decisions until the engine clears or restarts.</summary>
    Approximate,
}

/// <summary>Names of <see cref="CacheViewKind"/> as the API shows them.</summary>
public static class CacheViewKinds
{
    /// <summary>The lower-case name (<c>decisions</c>, <c>exact</c>, <c>approximate</c>).</summary>
    public static string Name(this CacheViewKind kind) => kind switch
    {
        CacheViewKind.Exact => "exact",
        CacheViewKind.Approximate => "approximate",
        _ => "decisions",
    };
}
