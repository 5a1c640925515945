using Gorgo.Mesh.Core;
using Gorgo.Mesh.State;
using Gorgo.Routing;
using Gorgo.Serving.Telemetry;

namespace Gorgo.Mesh.Hosting;

/// <summary>A mesh node as its metrics and status page read it: the regions it follows (status, RTT estimate, digest age) and its gossip totals.</summary>
internal sealed class MeshNodeView(RegionState state) : INodeView
{
    public string Role => "mesh";

    public string Region => state.Region;

    public string Consistency => state.Consistency.Name();

    public Router Router => state.Router;

    public IReadOnlyList<PeerReading> Peers()
    {
        RegionNodeState described = state.Describe();
        Dictionary<string, long> ages = described.Remote.ToDictionary(r => r.Origin, r => r.AgeMs, StringComparer.Ordinal);
        return state.RegionStatuses()
            .Select(p => new PeerReading(
                p.Key,
                p.Value,
                described.RttMs.GetValueOrDefault(p.Key),
                ages.TryGetValue(p.Key, out long age) ? age : null))
            .ToArray();
    }

    private readonly ByteRates _rates = new();

    public GossipReading? Gossip()
    {
        MeshStats stats = state.Stats;
        (long sent, long received) = (stats.GossipBytesSent, stats.GossipBytesReceived);
        (double sentRate, double receivedRate) = _rates.Read(state.NowMs, sent, received);
        long made = stats.DigestsMade, deltas = stats.DeltasMade;
        return new GossipReading(sent, received, stats.Exchanges, stats.ExchangeFailures, sentRate, receivedRate, deltas, made - deltas, stats.DeltasWithoutBase, stats.ForwardedArrivals, stats.Rebound, stats.Relayed);
    }
}
