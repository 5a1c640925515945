namespace Gorgo.Simulator;

/// <summary>What happens at an event.</summary>
internal enum EventKind
{
    /// <summary>The next request of the workload is sent by its client.</summary>
    Arrival,

    /// <summary>A request reaches its ingress (node or proxy) and is routed.</summary>
    Decide,

    /// <summary>A sync query reaches a peer, which answers with its exact state.</summary>
    SyncQuery,

    /// <summary>A peer's exact state reaches the node that asked.</summary>
    SyncAnswer,

    /// <summary>A request reaches its replica.</summary>
    ReplicaArrival,

    /// <summary>A replica's engine step ends.</summary>
    StepEnd,

    /// <summary>A node reads its local replicas' load.</summary>
    LoadReport,

    /// <summary>A node starts a gossip round.</summary>
    GossipRound,

    /// <summary>A gossip message (or reply) reaches its destination.</summary>
    GossipDelivery,

    /// <summary>The end of a response reaches the proxy, freeing the replica's slot.</summary>
    ProxyRelease,

    /// <summary>The proxy's health probes refresh every replica's view.</summary>
    ProxyHealth,

    /// <summary>The proxy looks at its queue again (late binding, while requests wait).</summary>
    ProxyRedispatch,

    /// <summary>A step of the fault model (a fault, its detection, a node coming up, a failure reaching a node); the payload is the step.</summary>
    FaultStep,
}

/// <summary>One scheduled event: a kind, an integer argument (a node or replica index), an optional payload and a stamp (a replica's step number, to tell a cut run's stale end).</summary>
internal readonly record struct SimEvent(EventKind Kind, int Target, object? Payload = null, int Stamp = 0);

/// <summary>The event list: earliest first, ties in scheduling order, so a run is deterministic.</summary>
internal sealed class EventQueue
{
    private readonly PriorityQueue<SimEvent, (double Time, long Sequence)> _queue = new();
    private long _sequence;

    /// <summary>Events waiting.</summary>
    public int Count => _queue.Count;

    /// <summary>Events scheduled so far.</summary>
    public long Scheduled => _sequence;

    /// <summary>Schedules <paramref name="e"/> at virtual time <paramref name="atMs"/>.</summary>
    public void At(double atMs, SimEvent e) => _queue.Enqueue(e, (atMs, _sequence++));

    /// <summary>Whether an event is waiting for <paramref name="atMs"/> or earlier.</summary>
    public bool AnyDueBy(double atMs) => _queue.TryPeek(out _, out (double Time, long Sequence) key) && key.Time <= atMs;

    /// <summary>Takes the earliest event.</summary>
    public bool TryNext(out SimEvent e, out double atMs)
    {
        if (_queue.TryDequeue(out e, out (double Time, long Sequence) key))
        {
            atMs = key.Time;
            return true;
        }

        atMs = 0;
        return false;
    }
}
