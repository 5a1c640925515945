namespace Gorgo.Mesh.Core;

/// <summary>Counters of one node's mesh activity (thread-safe).</summary>
public sealed class MeshStats
{
    private long _digestsMade;
    private long _lastDigestBytes;
    private long _gossipBytesSent;
    private long _gossipBytesReceived;
    private long _exchanges;
    private long _exchangeFailures;
    private long _syncQueries;
    private long _decisions;
    private long _crossRegionDecisions;
    private long _regionsForgotten;
    private long _deltasMade;
    private long _deltasWithoutBase;
    private long _forwardedArrivals;
    private long _rebound;
    private long _relayed;

    /// <summary>Digests this node made.</summary>
    public long DigestsMade => Interlocked.Read(ref _digestsMade);

    /// <summary>Size of the last own digest, bytes.</summary>
    public long LastDigestBytes => Interlocked.Read(ref _lastDigestBytes);

    /// <summary>Gossip payload bytes sent (requests and replies).</summary>
    public long GossipBytesSent => Interlocked.Read(ref _gossipBytesSent);

    /// <summary>Gossip payload bytes received.</summary>
    public long GossipBytesReceived => Interlocked.Read(ref _gossipBytesReceived);

    /// <summary>Gossip exchanges this node started that succeeded.</summary>
    public long Exchanges => Interlocked.Read(ref _exchanges);

    /// <summary>Gossip exchanges that failed.</summary>
    public long ExchangeFailures => Interlocked.Read(ref _exchangeFailures);

    /// <summary>Remote exact-state queries made by the <c>sync</c> setting.</summary>
    public long SyncQueries => Interlocked.Read(ref _syncQueries);

    /// <summary>Routing decisions made.</summary>
    public long Decisions => Interlocked.Read(ref _decisions);

    /// <summary>Decisions that chose a replica in another region.</summary>
    public long CrossRegionDecisions => Interlocked.Read(ref _crossRegionDecisions);

    /// <summary>Times a region was forgotten because its newest digest grew older than the origin timeout.</summary>
    public long RegionsForgotten => Interlocked.Read(ref _regionsForgotten);

    /// <summary>Of the digests made, those that were deltas (only what changed since a version the peer held).</summary>
    public long DeltasMade => Interlocked.Read(ref _deltasMade);

    /// <summary>Deltas dropped for want of their base: made on a version this node never or no longer held, or kept for one that overtook it and did not come (the origin's next message repairs it).</summary>
    public long DeltasWithoutBase => Interlocked.Read(ref _deltasWithoutBase);

    /// <summary>Requests other regions' nodes sent to this region's replicas that reached them.</summary>
    public long ForwardedArrivals => Interlocked.Read(ref _forwardedArrivals);

    /// <summary>Of those, the ones this node sent to another of its replicas than the sender chose (<see cref="RegionNodeOptions.RebindOnArrival"/>).</summary>
    public long Rebound => Interlocked.Read(ref _rebound);

    /// <summary>Of those, the ones this node sent on to another region's replica (<see cref="RegionNodeOptions.RelayFactor"/>).</summary>
    public long Relayed => Interlocked.Read(ref _relayed);

    /// <summary>A snapshot of every counter.</summary>
    public MeshStatsSnapshot Snapshot() => new(DigestsMade, LastDigestBytes, GossipBytesSent, GossipBytesReceived, Exchanges, ExchangeFailures, SyncQueries, Decisions, CrossRegionDecisions, RegionsForgotten, DeltasMade, DeltasWithoutBase, ForwardedArrivals, Rebound, Relayed);

    /// <summary>Counts a request another region forwarded here reaching this node, and whether it was rebound to another of its replicas or relayed to another region's.</summary>
    public void Arrived(bool rebound, bool relayed = false)
    {
        Interlocked.Increment(ref _forwardedArrivals);
        if (relayed)
        {
            Interlocked.Increment(ref _relayed);
        }
        else if (rebound)
        {
            Interlocked.Increment(ref _rebound);
        }
    }

    /// <summary>Counts a digest made, its encoded size and whether it was a delta.</summary>
    public void DigestMade(int bytes, bool delta = false)
    {
        Interlocked.Increment(ref _digestsMade);
        Interlocked.Exchange(ref _lastDigestBytes, bytes);
        if (delta)
        {
            Interlocked.Increment(ref _deltasMade);
        }
    }

    /// <summary>Counts a delta ignored for want of its base.</summary>
    public void DeltaWithoutBase() => Interlocked.Increment(ref _deltasWithoutBase);

    /// <summary>Counts payload bytes sent.</summary>
    public void Sent(int bytes) => Interlocked.Add(ref _gossipBytesSent, bytes);

    /// <summary>Counts payload bytes received.</summary>
    public void Received(int bytes) => Interlocked.Add(ref _gossipBytesReceived, bytes);

    /// <summary>Counts a gossip exchange this node started.</summary>
    public void Exchanged(bool ok) => Interlocked.Increment(ref ok ? ref _exchanges : ref _exchangeFailures);

    /// <summary>Counts sync queries sent to <paramref name="regions"/> regions.</summary>
    public void SyncQueried(int regions) => Interlocked.Add(ref _syncQueries, regions);

    /// <summary>Counts regions forgotten.</summary>
    public void Forgot(int regions) => Interlocked.Add(ref _regionsForgotten, regions);

    /// <summary>Counts a routing decision.</summary>
    public void Decided(bool crossRegion)
    {
        Interlocked.Increment(ref _decisions);
        if (crossRegion)
        {
            Interlocked.Increment(ref _crossRegionDecisions);
        }
    }
}

/// <summary>The counters of <see cref="MeshStats"/> at one moment.</summary>
public sealed record MeshStatsSnapshot(long DigestsMade, long LastDigestBytes, long GossipBytesSent, long GossipBytesReceived, long Exchanges, long ExchangeFailures, long SyncQueries, long Decisions, long CrossRegionDecisions, long RegionsForgotten, long DeltasMade, long DeltasWithoutBase, long ForwardedArrivals, long Rebound, long Relayed);
