using Gorgo.Routing;
using static Gorgo.Mesh.Core.Tests.ArrivalFixtures;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>A node sending a forwarded request on, once, to another region's replica when its own region turned out far worse than the sender expected.</summary>
public sealed class RelayOnArrivalTests
{
    /// <summary>The node of b: b1 swamped, b2 with <paramref name="b2QueuedTokens"/> queued, and a1 (the sender's region) idle as b last heard.</summary>
    private static RegionNode NodeOfB(long b2QueuedTokens, double relayFactor = RegionNodeOptions.DefaultRelayFactor, string policy = "gorgo")
    {
        var router = new Router(new RouterOptions { Region = "b", Policy = new Gorgo.Routing.Policies.PolicyOptions { Name = policy } }, TwoRegions, new FixedClock(T0));
        var node = new RegionNode(new RegionNodeOptions { Region = "b", RelayFactor = relayFactor }, router, TwoRegions, incarnation: 1, ["b1", "b2"]);
        node.UpdateLocal(Replica("b1", "b", running: 0, queued: 4, queuedTokens: 200_000));
        node.UpdateLocal(Replica("b2", "b", running: 0, queued: 4, queuedTokens: b2QueuedTokens));
        router.Upsert(Replica("a1", "a", running: 0, queued: 0, queuedTokens: 0));
        return node;
    }

    [Fact]
    public void A_forwarded_request_whose_region_is_swamped_goes_on_to_a_far_better_replica_elsewhere()
    {
        RegionNode node = NodeOfB(b2QueuedTokens: 200_000); // 6 s of prefill ahead on both; a1 is an RTT back

        ArrivalChoice choice = node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: true, expectedEngineMs: 20);

        Assert.Equal(new ArrivalChoice("a1", "a", Relayed: true), choice);
        Assert.Equal((1L, 1L, 0L), (node.Stats.ForwardedArrivals, node.Stats.Relayed, node.Stats.Rebound));
        Assert.Equal(1, node.Router.PendingRequests("a1")); // counted where it goes
        Assert.Equal(0, node.Router.PendingRequests("b2"));
    }

    [Fact]
    public void A_region_about_as_busy_as_the_sender_expected_keeps_the_request_however_much_better_another_looks()
    {
        RegionNode node = NodeOfB(b2QueuedTokens: 200_000);

        // The sender saw b1's 6 s queue and chose it anyway: no surprise, so no second guess from this node's older view.
        ArrivalChoice choice = node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: true, expectedEngineMs: 6_000);

        Assert.Equal(("b", false), (choice.Region, choice.Relayed));
        Assert.Equal(0L, node.Stats.Relayed);
    }

    [Fact]
    public void A_sender_that_did_not_say_what_it_expected_is_relayed_only_when_no_replica_of_the_region_can_take_it()
    {
        RegionNode node = NodeOfB(b2QueuedTokens: 200_000);
        Assert.False(node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: true).Relayed);

        node.Router.SetSuspended("b1", true);
        node.Router.SetSuspended("b2", true);
        Assert.Equal(new ArrivalChoice("a1", "a", Relayed: true), node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: true));
    }

    [Fact]
    public void A_request_already_relayed_is_not_relayed_again_and_stays_in_the_region()
    {
        RegionNode node = NodeOfB(b2QueuedTokens: 200_000);

        ArrivalChoice choice = node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: false, expectedEngineMs: 20);

        Assert.Equal("b", choice.Region);
        Assert.False(choice.Relayed);
        Assert.Equal(0L, node.Stats.Relayed);
    }

    [Fact]
    public void A_remote_replica_better_by_less_than_the_factor_does_not_draw_the_request_on()
    {
        // Home b2: the leg from a (80 ms) + 120 ms of queue; a1: 80 ms there + 80 ms back. Better, not 1.5x better.
        ArrivalChoice kept = NodeOfB(b2QueuedTokens: 4_000).RouteOnArrival(Forwarded(), "b1", "a", mayRelay: true, expectedEngineMs: 20);
        Assert.Equal(("b2", "b", false), (kept.ReplicaId, kept.Region, kept.Relayed));
        Assert.Equal(new ArrivalChoice("a1", "a", Relayed: true), NodeOfB(b2QueuedTokens: 4_000, relayFactor: 1).RouteOnArrival(Forwarded(), "b1", "a", mayRelay: true, expectedEngineMs: 20));
    }

    [Fact]
    public void With_relaying_off_or_a_policy_that_does_not_rank_by_estimate_the_request_stays_in_the_region()
    {
        Assert.Equal("b", NodeOfB(b2QueuedTokens: 200_000, relayFactor: 0).RouteOnArrival(Forwarded(), "b1", "a", mayRelay: true, expectedEngineMs: 20).Region);
        Assert.Equal("b", NodeOfB(b2QueuedTokens: 200_000, policy: "least-load").RouteOnArrival(Forwarded(), "b1", "a", mayRelay: true, expectedEngineMs: 20).Region);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(double.NaN)]
    [InlineData(-1)]
    public void A_relay_factor_between_0_and_1_or_not_finite_is_refused(double factor) =>
        Assert.Contains("RelayFactor must be 0 (off) or at least 1", Assert.Single(RegionNodeOptions.ValidateRelayFactor(factor)));
}
