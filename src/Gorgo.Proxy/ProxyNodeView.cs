using Gorgo.Routing;
using Gorgo.Serving.Telemetry;

namespace Gorgo.Proxy;

/// <summary>The proxy as its metrics and status page read it: one router, no peers, no gossip.</summary>
internal sealed class ProxyNodeView(ProxyState state, string region) : INodeView
{
    public string Role => "proxy";

    public string Region => region;

    public string Consistency => "proxy";

    public Router Router => state.Router;

    public IReadOnlyList<PeerReading> Peers() => [];

    public GossipReading? Gossip() => null;
}
