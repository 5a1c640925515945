using Gorgo.Routing;
using Gorgo.Routing.Cost;
using static Gorgo.Mesh.Core.Tests.ArrivalFixtures;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>Each node calibrates the replicas it hosts, from every request they serve, and its peers estimate them with the prefill rate it publishes.</summary>
public sealed class OwnReplicaCalibrationTests
{
    private static RegionNode Node(string region, bool calibrate, params string[] local)
    {
        var cost = new CostModelOptions { Calibration = new CalibrationOptions { Enabled = calibrate, MinObservations = 5 } };
        var router = new Router(RegionNode.RouterOptions(new RouterOptions { Region = region, Cost = cost }), TwoRegions, new FixedClock(T0));
        return new RegionNode(new RegionNodeOptions { Region = region }, router, TwoRegions, incarnation: 1, local);
    }

    /// <summary>Feeds <paramref name="node"/>'s replica b1 forty requests that took <paramref name="slowdown"/> times the model's queue and prefill.</summary>
    private static void Serve(RegionNode node, double slowdown)
    {
        for (int i = 0; i < 40; i++)
        {
            double queue = (i % 4) * 150;
            double prefill = 50 + (i * 23);
            node.ObserveArrival("b1", new TtftEstimate(80, queue, prefill, 15), (slowdown * (queue + prefill)) + 15);
        }
    }

    [Fact]
    public void A_node_routing_a_forwarded_request_to_its_replica_hands_back_the_models_estimate_to_learn_from()
    {
        RegionNode node = Node("b", calibrate: true, "b1");
        node.UpdateLocal(Replica("b1", "b", running: 1, queued: 1, queuedTokens: 1_000));

        ArrivalChoice choice = node.RouteOnArrival(Forwarded(), "b1", senderRegion: "a", mayRelay: false, expectedEngineMs: 20);

        TtftEstimate model = Assert.IsType<TtftEstimate>(choice.Model);
        Assert.Equal(("b1", false), (choice.ReplicaId, choice.Relayed));
        Assert.Equal(0.03 * 64, model.PrefillMs, 6);
        Assert.True(model.QueueMs >= 0.03 * 1_000, $"queue {model.QueueMs} ms");
    }

    [Fact]
    public void A_node_fits_its_replica_from_requests_other_nodes_sent_and_publishes_the_calibrated_prefill_rate()
    {
        RegionNode node = Node("b", calibrate: true, "b1");
        node.UpdateLocal(Replica("b1", "b", running: 0, queued: 0, queuedTokens: 0));
        Assert.Equal(0.03, node.MakeDigest(T0).Replicas.Single().PrefillMsPerToken); // nothing observed yet

        Serve(node, slowdown: 2);

        TtftCalibration fit = node.Router.Calibrations()["b1"];
        Assert.Equal(40, fit.Observations);
        Assert.InRange(fit.PrefillGain, 1.9, 2.1);
        double published = node.MakeDigest(T0).Replicas.Single().PrefillMsPerToken;
        Assert.Equal(published, Math.Round(0.03 * fit.PrefillGain, 4)); // three significant digits
        Assert.InRange(published, 0.057, 0.063);
    }

    [Fact]
    public void Without_calibration_a_node_publishes_its_replicas_configured_prefill_rate_whatever_it_observed()
    {
        RegionNode node = Node("b", calibrate: false, "b1");
        node.UpdateLocal(Replica("b1", "b", running: 0, queued: 0, queuedTokens: 0));

        Serve(node, slowdown: 2);

        Assert.Equal(40, node.Router.Calibrations()["b1"].Observations); // fitted, shown, not used
        Assert.Equal(0.03, node.MakeDigest(T0).Replicas.Single().PrefillMsPerToken);
    }

    [Fact]
    public void A_peer_estimates_another_regions_replica_with_the_rate_its_owner_published_and_does_not_fit_it_again()
    {
        RegionNode owner = Node("b", calibrate: true, "b1");
        owner.UpdateLocal(Replica("b1", "b", running: 0, queued: 0, queuedTokens: 0));
        Serve(owner, slowdown: 2);
        RegionNode peer = Node("a", calibrate: true, "a1");
        peer.UpdateLocal(Replica("a1", "a", running: 0, queued: 0, queuedTokens: 0));
        Assert.True(peer.Merge(owner.MakeDigest(T0), T0));

        // The peer's own observations of b1 (TTFTs of requests it sent there) teach it only b's transit allowance.
        for (int i = 0; i < 40; i++)
        {
            Assert.True(peer.Router.Observe("b1", 0, 100, 100 + 80 + 300));
        }

        Assert.DoesNotContain("b1", peer.Router.Calibrations().Keys);
        Assert.Null(peer.Router.CalibrationInUse("b1"));
        Assert.Equal(40, peer.Router.TransitAllowances()["b"].Observations);
        var request = new RoutingRequest(new Gorgo.Routing.Hashing.PromptBlocks(Enumerable.Range(1, 62).Select(i => (ulong)i).ToArray(), 1_000, 16), "m", MaxOutputTokens: 16);
        var b1 = peer.Router.Route(request).Candidates.Single(c => c.ReplicaId == "b1");
        Assert.Equal(owner.MakeDigest(T0).Replicas.Single().PrefillMsPerToken * b1.UncachedTokens, b1.Estimate.PrefillMs, 6);
    }
}
