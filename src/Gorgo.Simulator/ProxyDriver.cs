using Gorgo.Engine.Model;
using Gorgo.Proxy.Core;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;

namespace Gorgo.Simulator;

/// <summary>
/// The simulator's driver of the centralized proxy: one router in the proxy's region and the proxy's
/// <see cref="ProxyDispatcher{T}"/>, the same code <c>gorgo proxy</c> runs. Clients reach the proxy after half their
/// RTT to it; the proxy pays half the RTT to every replica, its own region's included; a replica's slot frees when the
/// end of its response reaches the proxy; health probes refresh every view and every replica's KV-cache use each
/// interval. Late binding (the default) routes the request at the head of the global queue when a replica can take it,
/// looking again on every arrival, every release and every re-dispatch interval; on-arrival binding routes at once.
/// </summary>
internal sealed class ProxyDriver : RunDriver
{
    private readonly int _region;
    private readonly Router _router;
    private readonly ProxyDispatcher<SimRequest> _dispatcher;
    private readonly ReplicaView[] _facts;
    private readonly int[] _pool;
    private readonly ProxyChooser<SimRequest> _choose;
    private readonly Action<ProxyTicket<SimRequest>> _forward;
    private bool _redispatchDue;

    /// <summary>Builds the proxy in its region with a router on the virtual clock.</summary>
    public ProxyDriver(SimContext context, SimFleet fleet, RunResults results, RouterOptions routerBase)
        : base(context, fleet, results)
    {
        string region = context.Run.ProxyRegion ?? context.Scenario.Proxy.Region ?? context.Scenario.Regions[0];
        _region = context.RttMatrix.IndexOf(region);
        _router = new Router(routerBase with { Region = region, TrackPendingWork = false }, context.RttMatrix, context.Clock);
        _dispatcher = new ProxyDispatcher<SimRequest>(context.Run.EffectiveProxyDispatch(context.Scenario.Proxy.Dispatch), Publish);
        _facts = fleet.Replicas.Select(r => new ReplicaView
        {
            Id = r.Id,
            Region = context.RegionName(r.Region),
            Model = context.Scenario.Replicas.Model,
            Health = ReplicaHealth.Healthy,
            PrefillMsPerToken = context.Profile.PrefillMsPerToken,
            MaxContextTokens = context.Profile.MaxContextTokens,
        }).ToArray();
        _pool = fleet.Replicas.Select(r => r.Index).ToArray();
        _choose = Choose;
        _forward = Forward;
        foreach (SimReplica replica in fleet.Replicas)
        {
            if (_dispatcher.AddReplica() != replica.Index)
            {
                throw new InvalidOperationException("The proxy's dispatcher must follow the fleet's order.");
            }
        }
    }

    private bool LateBinding => _dispatcher.Options.Binding == ProxyBinding.Late;

    /// <inheritdoc />
    public override void Start()
    {
        foreach (SimReplica replica in Fleet.Replicas)
        {
            _dispatcher.Republish(replica.Index);
        }

        Context.At(Context.Random.NextDouble() * Context.Scenario.Proxy.HealthIntervalMs, new SimEvent(EventKind.ProxyHealth, -1));
    }

    /// <inheritdoc />
    public override int IngressOf(int user) => _region;

    /// <inheritdoc />
    public override void OnArrival(SimRequest request) =>
        Context.Then(Context.NowMs + Context.OneWay(request.User, request.Ingress, sameRegionFree: true), new SimEvent(EventKind.Decide, request.Ingress, request));

    /// <inheritdoc />
    public override void Handle(in SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Decide:
                OnReachProxy((SimRequest)e.Payload!);
                break;
            case EventKind.ProxyRelease:
                _dispatcher.Release(((SimRequest)e.Payload!).Ticket!);
                Dispatch();
                break;
            case EventKind.ProxyRedispatch:
                _redispatchDue = false;
                Dispatch();
                break;
            case EventKind.ProxyHealth:
                foreach (SimReplica replica in Fleet.Replicas)
                {
                    _dispatcher.SetKvUtilization(replica.Index, replica.Engine.State.KvUtilization); // read with the health probe, as the live proxy scrapes it
                }

                Dispatch();
                if (Context.Busy)
                {
                    Context.At(Context.NowMs + Context.Scenario.Proxy.HealthIntervalMs, e);
                }

                break;
            default:
                throw new InvalidOperationException($"The proxy has no event {e.Kind}.");
        }
    }

    /// <inheritdoc />
    public override double ReturnLegMs(SimRequest request, SimReplica replica) =>
        Context.OneWay(replica.Region, _region, sameRegionFree: false) + Context.OneWay(_region, request.User, sameRegionFree: true);

    /// <inheritdoc />
    public override double ForwardLegMs(SimRequest request, SimReplica replica) => Context.OneWay(_region, replica.Region, sameRegionFree: false);

    /// <inheritdoc />
    public override int[] Pool(SimRequest request) => _pool;

    /// <inheritdoc />
    public override void OnFinished(SimRequest request, SimReplica replica, RequestTiming timing) =>
        Context.At(timing.FinishedMs + Context.OneWay(replica.Region, _region, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));

    /// <inheritdoc />
    public override void OnRefused(SimRequest request, SimReplica replica) =>
        Context.At(Context.NowMs + Context.OneWay(replica.Region, _region, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));

    /// <summary>The request reaches the proxy: late binding queues it; on-arrival binding routes it at once and queues it at its replica.</summary>
    private void OnReachProxy(SimRequest request)
    {
        ForecastOutcomes(request);
        if (LateBinding)
        {
            request.Ticket = _dispatcher.Submit(request, request.Prompt.TokenCount);
        }
        else if (Route(request, late: false) is { } replica)
        {
            request.Ticket = _dispatcher.Submit(request, request.Prompt.TokenCount, replica); // it waits there: its queue shows in the view
        }
        else
        {
            return; // failed
        }

        Dispatch();
    }

    /// <summary>Starts what can start, forwarding each to its replica, and keeps the re-dispatch tick going while requests wait.</summary>
    private void Dispatch()
    {
        _dispatcher.Dispatch(_choose, _forward);
        if (LateBinding && _dispatcher.Queued > 0 && !_redispatchDue)
        {
            _redispatchDue = true;
            Context.At(Context.NowMs + _dispatcher.Options.RedispatchIntervalMs, new SimEvent(EventKind.ProxyRedispatch, -1));
        }
    }

    /// <summary>Late binding's choice for the request at the head of the queue: the best replica with a free slot and KV room.</summary>
    private int Choose(ProxyTicket<SimRequest> ticket) =>
        Route(ticket.Payload, late: true) is { } replica ? replica : ticket.Payload.Replica == -2 ? ProxyDispatcher<SimRequest>.Refused : ProxyDispatcher<SimRequest>.Wait;

    /// <summary>Routes a request; null when it must wait (late binding, nothing eligible) or failed (then marked with replica -2).</summary>
    private int? Route(SimRequest request, bool late)
    {
        RoutedChoice decision;
        try
        {
            decision = _router.RouteChoice(new RoutingRequest(request.Prompt, Context.Scenario.Replicas.Model, Context.RegionName(request.User), request.Shape.OutputTokens, request.Shape.Index, RequireFreeSlot: late, MaxKvUtilization: late ? _dispatcher.Options.MaxKvUtilization : double.PositiveInfinity));
        }
        catch (RoutingException ex) when (late && ex.Failure is RoutingFailure.Saturated or RoutingFailure.NoHealthyReplica)
        {
            return null;
        }
        catch (RoutingException ex)
        {
            Results.Fail(request, ex);
            request.Replica = -2;
            return null;
        }

        SimReplica replica = Fleet[decision.Chosen.ReplicaId];
        Record(request, replica.Index, decision);
        return replica.Index;
    }

    private void Forward(ProxyTicket<SimRequest> ticket)
    {
        SimReplica replica = Fleet.Replicas[ticket.Replica];
        Fleet.Forward(ticket.Payload, replica, Context.OneWay(_region, replica.Region, sameRegionFree: false));
    }

    private void Publish(int replica, ProxyReplicaLoad load) =>
        _router.Upsert(load.ToView(_facts[replica], _dispatcher.Options.MaxRunningPerReplica, Context.NowUnixMs));
}
