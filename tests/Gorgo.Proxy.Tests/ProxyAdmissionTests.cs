using Gorgo.Proxy.Core;
using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy.Tests;

/// <summary>The proxy's admission, the pure core gorgo proxy and the simulator's proxy runs share.</summary>
public class ProxyAdmissionTests
{
    [Fact]
    public void A_replica_runs_at_most_the_cap_and_the_rest_wait_in_arrival_order()
    {
        var admission = new ProxyAdmission<string>(maxRunningPerReplica: 2);
        int r = admission.AddReplica();
        var tickets = new[] { "a", "b", "c", "d" }.Select(x => admission.Enqueue(r, x, tokens: 100)).ToArray();
        var started = new List<ProxyTicket<string>>();

        Assert.Equal(2, admission.Dispatch(r, started));
        Assert.Equal(["a", "b"], started.Select(t => t.Payload));
        Assert.Equal(new ProxyReplicaLoad(2, 2, 200, 200), admission.Load(r));

        started.Clear();
        Assert.True(admission.Release(tickets[0]));
        Assert.Equal(1, admission.Dispatch(r, started));
        Assert.Equal(["c"], started.Select(t => t.Payload));
        Assert.Equal(ProxyTicketState.Finished, tickets[0].State);
        Assert.False(admission.Release(tickets[0])); // once
    }

    [Fact]
    public void A_cancelled_waiter_leaves_the_queue_and_its_counts_and_is_never_started()
    {
        var admission = new ProxyAdmission<string>(maxRunningPerReplica: 1);
        int r = admission.AddReplica();
        ProxyTicket<string> running = admission.Enqueue(r, "a", 10);
        ProxyTicket<string> cancelled = admission.Enqueue(r, "b", 20);
        ProxyTicket<string> next = admission.Enqueue(r, "c", 30);
        var started = new List<ProxyTicket<string>>();
        admission.Dispatch(r, started);

        Assert.True(admission.Abandon(cancelled));
        Assert.False(admission.Abandon(running)); // already started: release it instead
        Assert.Equal(new ProxyReplicaLoad(1, 1, 10, 30), admission.Load(r));

        admission.Release(running);
        started.Clear();
        admission.Dispatch(r, started);
        Assert.Equal([next], started);
        Assert.Equal(ProxyTicketState.Abandoned, cancelled.State);
    }

    [Fact]
    public void Replicas_are_counted_apart_and_the_view_carries_the_counts_and_the_cap()
    {
        var admission = new ProxyAdmission<int>(maxRunningPerReplica: 10);
        int a = admission.AddReplica();
        int b = admission.AddReplica();
        admission.Enqueue(b, 1, 500);
        admission.Dispatch(b, []);

        ReplicaView facts = new() { Id = "b", Region = "eu", Model = "m", KvCacheUtilization = 0.4 };
        ReplicaView view = admission.Load(b).ToView(facts, admission.MaxRunningPerReplica, nowMs: 1234);

        Assert.Equal(default, admission.Load(a));
        Assert.Equal((1, 0, 500L, 0L, 10, 1234L, 0.4), (view.RunningRequests, view.QueuedRequests, view.RunningTokens, view.QueuedTokens, view.MaxRunningRequests, view.TakenAtMs, view.KvCacheUtilization));
    }
}
