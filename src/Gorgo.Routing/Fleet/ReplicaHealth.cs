namespace Gorgo.Routing.Fleet;

/// <summary>Health of a replica as last reported or probed.</summary>
public enum ReplicaHealth
{
    /// <summary>Serving normally.</summary>
    Healthy,

    /// <summary>Serving but impaired (slow probes, errors); routable with a cost penalty.</summary>
    Degraded,

    /// <summary>Finishing its work, accepting nothing new.</summary>
    Draining,

    /// <summary>Not serving; never routed to.</summary>
    Unhealthy,
}
