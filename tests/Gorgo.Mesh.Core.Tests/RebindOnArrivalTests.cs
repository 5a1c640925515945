using Gorgo.Routing;
using static Gorgo.Mesh.Core.Tests.ArrivalFixtures;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>A node routing again, among its own replicas, a request another region's node forwarded to one of them.</summary>
public sealed class RebindOnArrivalTests
{
    private static RegionNode NodeOfB(bool rebind)
    {
        var router = new Router(new RouterOptions { Region = "b" }, TwoRegions, new FixedClock(T0));
        var node = new RegionNode(new RegionNodeOptions { Region = "b", RebindOnArrival = rebind }, router, TwoRegions, incarnation: 1, ["b1", "b2"]);
        node.UpdateLocal(Replica("b1", "b", running: 8, queued: 40, queuedTokens: 200_000)); // what reached b1 while the request was on its way
        node.UpdateLocal(Replica("b2", "b", running: 0, queued: 0, queuedTokens: 0));
        return node;
    }

    [Fact]
    public void A_forwarded_request_that_reaches_a_busy_replica_is_rebound_to_an_idle_one_of_its_region()
    {
        RegionNode node = NodeOfB(rebind: true);

        Assert.Equal("b2", node.RouteOnArrival(Forwarded(), "b1", "a", mayRelay: false).ReplicaId);
        Assert.Equal((1L, 1L), (node.Stats.ForwardedArrivals, node.Stats.Rebound));
        Assert.Equal(1, node.Router.PendingRequests("b2")); // the node's own decision: counted where the request goes
    }

    [Fact]
    public void Without_rebinding_or_for_a_replica_of_another_node_the_senders_choice_stands()
    {
        RegionNode node = NodeOfB(rebind: false);
        Assert.Equal("b1", node.RouteOnArrival(Forwarded(), "b1", "a", mayRelay: false).ReplicaId);
        Assert.Equal((1L, 0L), (node.Stats.ForwardedArrivals, node.Stats.Rebound));

        RegionNode other = NodeOfB(rebind: true);
        Assert.Equal("a1", other.RouteOnArrival(Forwarded(), "a1", "a", mayRelay: false).ReplicaId);
        Assert.Equal(0L, other.Stats.ForwardedArrivals);
    }

    [Fact]
    public void When_no_replica_of_the_region_can_take_it_the_senders_choice_stands()
    {
        RegionNode node = NodeOfB(rebind: true);
        node.Router.SetSuspended("b1", true);
        node.Router.SetSuspended("b2", true);

        Assert.Equal("b1", node.RouteOnArrival(Forwarded(), "b1", "a", mayRelay: false).ReplicaId);
        Assert.Equal((1L, 0L), (node.Stats.ForwardedArrivals, node.Stats.Rebound));
    }
}
