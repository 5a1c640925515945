using Gorgo.Routing;

namespace Gorgo.Serving.Telemetry;

/// <summary>What a node's metrics and status page read from it: its region, its router's view and, on a mesh node, its peers and gossip.</summary>
public interface INodeView
{
    /// <summary><c>mesh</c> or <c>proxy</c>.</summary>
    string Role { get; }

    /// <summary>The region the node decides in.</summary>
    string Region { get; }

    /// <summary>The consistency setting (<c>proxy</c> for the proxy).</summary>
    string Consistency { get; }

    /// <summary>The router deciding for this node.</summary>
    Router Router { get; }

    /// <summary>Every other region this node follows, now (empty for the proxy).</summary>
    IReadOnlyList<PeerReading> Peers();

    /// <summary>The node's gossip totals so far; null for the proxy.</summary>
    GossipReading? Gossip();
}

/// <summary>One region a node follows: its status, the RTT estimate to it and the age of the newest state held from it.</summary>
/// <param name="Region">The other region.</param>
/// <param name="Status"><c>up</c>, <c>draining</c>, <c>unreachable</c> or <c>down</c>.</param>
/// <param name="RttMs">The node's current RTT estimate to it.</param>
/// <param name="StateAgeMs">Age of the newest digest held from it; null when none is held.</param>
public sealed record PeerReading(string Region, string Status, double RttMs, double? StateAgeMs);

/// <summary>A mesh node's gossip totals since it started, and the forwarded requests that reached its replicas.</summary>
/// <param name="BytesSent">Payload bytes sent.</param>
/// <param name="BytesReceived">Payload bytes received.</param>
/// <param name="Exchanges">Exchanges this node started that succeeded.</param>
/// <param name="Failures">Exchanges that failed.</param>
/// <param name="SentPerSecond">Bytes sent per second over the last reading interval of at least a second (0 at first).</param>
/// <param name="ReceivedPerSecond">Bytes received per second over the same interval.</param>
/// <param name="Deltas">Own digests sent as deltas on a version the peer holds.</param>
/// <param name="Wholes">Own digests sent whole (first contact, a peer that does not take part, anti-entropy, sync answers).</param>
/// <param name="DeltasDropped">Deltas received and dropped for want of their base.</param>
/// <param name="ForwardedArrivals">Requests other regions' nodes forwarded to this node's replicas that reached them.</param>
/// <param name="Rebound">Of those, the ones this node rebound to another of its replicas on arrival.</param>
/// <param name="Relayed">Of those, the ones this node sent on to another region's replica on arrival.</param>
public readonly record struct GossipReading(long BytesSent, long BytesReceived, long Exchanges, long Failures, double SentPerSecond, double ReceivedPerSecond, long Deltas = 0, long Wholes = 0, long DeltasDropped = 0, long ForwardedArrivals = 0, long Rebound = 0, long Relayed = 0);

/// <summary>Turns growing byte totals into per-second rates over intervals of at least a second (thread-safe).</summary>
public sealed class ByteRates
{
    private readonly object _gate = new();
    private long _markMs = long.MinValue;
    private long _markSent;
    private long _markReceived;
    private double _sentPerSecond;
    private double _receivedPerSecond;

    /// <summary>The rates given the totals at <paramref name="nowMs"/>: recomputed once at least a second has passed since the last mark.</summary>
    public (double SentPerSecond, double ReceivedPerSecond) Read(long nowMs, long sent, long received)
    {
        lock (_gate)
        {
            if (_markMs == long.MinValue)
            {
                (_markMs, _markSent, _markReceived) = (nowMs, sent, received);
            }
            else if (nowMs - _markMs >= 1000)
            {
                double seconds = (nowMs - _markMs) / 1000.0;
                _sentPerSecond = (sent - _markSent) / seconds;
                _receivedPerSecond = (received - _markReceived) / seconds;
                (_markMs, _markSent, _markReceived) = (nowMs, sent, received);
            }

            return (_sentPerSecond, _receivedPerSecond);
        }
    }
}
