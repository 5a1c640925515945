using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Serving;
using Microsoft.AspNetCore.Http;

namespace Gorgo.Proxy.Tests;

public class RoutingHeadersTests
{
    [Fact]
    public void The_estimate_header_counts_the_wait_at_the_front_door_before_the_decision()
    {
        var estimate = new TtftEstimate(networkMs: 92.8, queueMs: 45, prefillMs: 0.8, overheadMs: 15);
        var chosen = new CandidateScore("r1", "eu-central", false, ReplicaHealth.Healthy, 0, 100, 3, 1, 900, 0, 20, estimate);
        var decision = new RoutingDecision("gorgo", "us-east", 7, 0, 100, [chosen], 0, -1);
        var headers = new HeaderDictionary();

        RoutingHeaders.Apply(headers, decision, "gossip", waitedMs: 250);

        Assert.Equal("403.6; waited=250.0; network=92.8; queue=45.0; prefill=0.8; overhead=15.0", headers[RoutingHeaders.EstimatedTtft].ToString());
    }
}
