using Gorgo.Proxy.Core;
using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy.Tests;

/// <summary>The proxy's dispatcher, the pure core gorgo proxy and the simulator's proxy runs share.</summary>
public class ProxyDispatcherTests
{
    private static ProxyDispatcher<string> Dispatcher(ProxyBinding binding, int cap, int replicas)
    {
        var dispatcher = new ProxyDispatcher<string>(new ProxyDispatchOptions { Binding = binding, MaxRunningPerReplica = cap });
        for (int i = 0; i < replicas; i++)
        {
            dispatcher.AddReplica();
        }

        return dispatcher;
    }

    /// <summary>A chooser that takes the lowest eligible replica, recording whom it was asked about.</summary>
    private static ProxyChooser<string> Lowest(ProxyDispatcher<string> dispatcher, int replicas, List<string> asked) => ticket =>
    {
        asked.Add(ticket.Payload);
        for (int r = 0; r < replicas; r++)
        {
            if (dispatcher.IsEligible(r))
            {
                return r;
            }
        }

        return ProxyDispatcher<string>.Wait;
    };

    [Fact]
    public void Late_binding_routes_the_head_of_one_global_queue_when_a_replica_has_a_free_slot()
    {
        ProxyDispatcher<string> dispatcher = Dispatcher(ProxyBinding.Late, cap: 1, replicas: 2);
        ProxyTicket<string>[] tickets = new[] { "a", "b", "c" }.Select(x => dispatcher.Submit(x, 100)).ToArray();
        var asked = new List<string>();
        var started = new List<ProxyTicket<string>>();

        Assert.Equal(2, dispatcher.Dispatch(Lowest(dispatcher, 2, asked), started.Add));
        Assert.Equal([("a", 0), ("b", 1)], started.Select(t => (t.Payload, t.Replica)));
        Assert.Equal(1, dispatcher.Queued);
        Assert.Equal(-1, tickets[2].Replica); // not bound while it waits

        started.Clear();
        dispatcher.Release(tickets[1]); // replica 1 frees first: c goes there, decided only now
        dispatcher.Dispatch(Lowest(dispatcher, 2, asked), started.Add);
        Assert.Equal([("c", 1)], started.Select(t => (t.Payload, t.Replica)));
        Assert.Equal(0, dispatcher.Queued);
    }

    [Fact]
    public void A_replica_whose_kv_cache_is_nearly_full_takes_nothing_new_until_its_metrics_say_it_has_room()
    {
        ProxyDispatcher<string> dispatcher = Dispatcher(ProxyBinding.Late, cap: 10, replicas: 1);
        dispatcher.SetKvUtilization(0, 0.97);
        dispatcher.Submit("a", 100);
        var asked = new List<string>();

        Assert.Equal(0, dispatcher.Dispatch(Lowest(dispatcher, 1, asked), _ => { }));
        Assert.Empty(asked); // nothing eligible: the chooser is not even asked

        dispatcher.SetKvUtilization(0, 0.5);
        Assert.Equal(1, dispatcher.Dispatch(Lowest(dispatcher, 1, asked), _ => { }));
    }

    [Fact]
    public void The_queue_keeps_its_order_when_the_head_must_wait_and_drops_a_request_refused_for_good()
    {
        ProxyDispatcher<string> dispatcher = Dispatcher(ProxyBinding.Late, cap: 5, replicas: 1);
        ProxyTicket<string> refused = dispatcher.Submit("too-long", 100);
        ProxyTicket<string> waits = dispatcher.Submit("waits", 100);
        dispatcher.Submit("behind", 100);
        var started = new List<ProxyTicket<string>>();

        dispatcher.Dispatch(t => t.Payload switch { "too-long" => ProxyDispatcher<string>.Refused, "waits" => ProxyDispatcher<string>.Wait, _ => 0 }, started.Add);

        Assert.Empty(started); // "behind" could go, but stays behind the head
        Assert.Equal(ProxyTicketState.Abandoned, refused.State);
        Assert.Equal(2, dispatcher.Queued);
        dispatcher.Abandon(waits); // cancelled by its client
        dispatcher.Dispatch(_ => 0, started.Add);
        Assert.Equal(["behind"], started.Select(t => t.Payload));
    }

    [Fact]
    public void On_arrival_binding_waits_in_its_replicas_own_queue_in_arrival_order()
    {
        ProxyDispatcher<string> dispatcher = Dispatcher(ProxyBinding.OnArrival, cap: 2, replicas: 1);
        ProxyTicket<string>[] tickets = new[] { "a", "b", "c", "d" }.Select(x => dispatcher.Submit(x, 100, replica: 0)).ToArray();
        var started = new List<ProxyTicket<string>>();

        Assert.Equal(2, dispatcher.Dispatch(_ => throw new InvalidOperationException("bound requests are not routed again"), started.Add));
        Assert.Equal(["a", "b"], started.Select(t => t.Payload));
        Assert.Equal(new ProxyReplicaLoad(2, 2, 200, 200), dispatcher.Load(0));
        Assert.True(dispatcher.Abandon(tickets[2]));
        Assert.False(dispatcher.Abandon(tickets[0])); // already running: release it instead

        started.Clear();
        Assert.True(dispatcher.Release(tickets[0]));
        Assert.False(dispatcher.Release(tickets[0]));
        dispatcher.Dispatch(_ => 0, started.Add);
        Assert.Equal(["d"], started.Select(t => t.Payload));
        Assert.Throws<ArgumentException>(() => dispatcher.Submit("unrouted", 1));
    }

    [Fact]
    public void The_view_carries_the_counts_and_the_cap_and_bad_settings_are_refused()
    {
        ProxyDispatcher<string> dispatcher = Dispatcher(ProxyBinding.Late, cap: 10, replicas: 2);
        dispatcher.Submit("x", 500);
        dispatcher.Dispatch(_ => 1, _ => { });
        dispatcher.SetKvUtilization(1, 0.4);

        ReplicaView view = dispatcher.Load(1).ToView(new() { Id = "b", Region = "eu", Model = "m" }, dispatcher.MaxRunningPerReplica, nowMs: 1234);

        Assert.Equal(default, dispatcher.Load(0));
        Assert.Equal((1, 0, 500L, 10, 1234L, 0.4), (view.RunningRequests, view.QueuedRequests, view.RunningTokens, view.MaxRunningRequests, view.TakenAtMs, view.KvCacheUtilization));
        string errors = string.Join(" ", new ProxyDispatchOptions { MaxRunningPerReplica = 0, MaxKvUtilization = 1.5, RedispatchIntervalMs = 0 }.Validate());
        Assert.Contains("MaxRunningPerReplica", errors);
        Assert.Contains("MaxKvUtilization", errors);
        Assert.Contains("RedispatchIntervalMs", errors);
    }

    [Fact]
    public void Every_load_change_is_reported_before_the_next_choice_so_a_chooser_on_reported_loads_never_overfills()
    {
        var reported = new ProxyReplicaLoad[2];
        var changes = new List<(int Replica, int Running, int Waiting)>();
        var dispatcher = new ProxyDispatcher<string>(new ProxyDispatchOptions { MaxRunningPerReplica = 1 }, (r, load) =>
        {
            reported[r] = load;
            changes.Add((r, load.Running, load.Waiting));
        });
        dispatcher.AddReplica();
        dispatcher.AddReplica();
        ProxyTicket<string>[] tickets = new[] { "a", "b", "c" }.Select(x => dispatcher.Submit(x, 10)).ToArray();

        // Like the router: least running among the replicas the reports say have room.
        int LeastRunning(ProxyTicket<string> _) => reported[0].Running <= reported[1].Running
            ? reported[0].Running < 1 ? 0 : ProxyDispatcher<string>.Wait
            : reported[1].Running < 1 ? 1 : ProxyDispatcher<string>.Wait;
        var started = new List<ProxyTicket<string>>();
        dispatcher.Dispatch(LeastRunning, started.Add);

        Assert.Equal([("a", 0), ("b", 1)], started.Select(t => (t.Payload, t.Replica)));
        dispatcher.Release(tickets[0]);
        dispatcher.Submit("retry", 5, replica: 1); // bound: counted as waiting at once
        Assert.Equal([(0, 1, 0), (1, 1, 0), (0, 0, 0), (1, 1, 1)], changes);

        Assert.Equal(0, dispatcher.Dispatch(_ => 1, started.Add)); // replica 1 is full: a stale choice of it waits; c stays at the head
        Assert.Equal(ProxyTicketState.Waiting, tickets[2].State);
    }
}
