using Gorgo.Proxy.Core;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;

namespace Gorgo.Simulator;

/// <summary>
/// The simulator's driver of the centralized proxy: one router in the proxy's region and the proxy's
/// <see cref="ProxyAdmission{T}"/>, the same code <c>gorgo proxy</c> runs. Clients reach the proxy after half their
/// RTT to it; the proxy pays half the RTT to every replica, its own region's included; a replica's slot frees when
/// the end of its response reaches the proxy; health probes refresh every view each interval.
/// </summary>
internal sealed class ProxyDriver : RunDriver
{
    private readonly int _region;
    private readonly Router _router;
    private readonly ProxyAdmission<SimRequest> _admission;
    private readonly ReplicaView[] _facts;
    private readonly List<ProxyTicket<SimRequest>> _started = [];
    private readonly int[] _pool;

    /// <summary>Builds the proxy in its region with a router on the virtual clock.</summary>
    public ProxyDriver(SimContext context, SimFleet fleet, RunResults results, RouterOptions routerBase)
        : base(context, fleet, results)
    {
        string region = context.Run.ProxyRegion ?? context.Scenario.Proxy.Region ?? context.Scenario.Regions[0];
        _region = context.RttMatrix.IndexOf(region);
        _router = new Router(routerBase with { Region = region, TrackPendingWork = false }, context.RttMatrix, context.Clock);
        _admission = new ProxyAdmission<SimRequest>(context.Scenario.Proxy.MaxRunningPerReplica);
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
        foreach (SimReplica replica in fleet.Replicas)
        {
            if (_admission.AddReplica() != replica.Index)
            {
                throw new InvalidOperationException("The proxy's admission must follow the fleet's order.");
            }
        }
    }

    /// <inheritdoc />
    public override void Start()
    {
        foreach (SimReplica replica in Fleet.Replicas)
        {
            Publish(replica);
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
                Decide((SimRequest)e.Payload!);
                break;
            case EventKind.ProxyRelease:
                OnRelease((SimRequest)e.Payload!);
                break;
            case EventKind.ProxyHealth:
                Fleet.Replicas.ForEach(Publish);
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
    public override void OnFinished(SimRequest request, SimReplica replica, double finishedMs) =>
        Context.At(finishedMs + Context.OneWay(replica.Region, _region, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));

    /// <inheritdoc />
    public override void OnRefused(SimRequest request, SimReplica replica) =>
        Context.At(Context.NowMs + Context.OneWay(replica.Region, _region, sameRegionFree: false), new SimEvent(EventKind.ProxyRelease, replica.Index, request));

    private void Decide(SimRequest request)
    {
        ForecastOutcomes(request); // the request has just reached the proxy
        RoutedChoice decision;
        try
        {
            decision = _router.RouteChoice(new RoutingRequest(request.Prompt, Context.Scenario.Replicas.Model, Context.RegionName(request.User), request.Shape.OutputTokens, request.Shape.Index));
        }
        catch (RoutingException ex)
        {
            Results.Fail(request, ex);
            return;
        }

        SimReplica replica = Fleet[decision.Chosen.ReplicaId];
        Record(request, replica.Index, decision);
        request.Ticket = _admission.Enqueue(replica.Index, request, request.Prompt.TokenCount);
        Dispatch(replica);
    }

    private void OnRelease(SimRequest request)
    {
        _admission.Release(request.Ticket!);
        Dispatch(Fleet.Replicas[request.Replica]);
    }

    /// <summary>Starts what fits on the replica, then republishes its view.</summary>
    private void Dispatch(SimReplica replica)
    {
        _started.Clear();
        _admission.Dispatch(replica.Index, _started);
        foreach (ProxyTicket<SimRequest> ticket in _started)
        {
            Fleet.Forward(ticket.Payload, replica, Context.OneWay(_region, replica.Region, sameRegionFree: false));
        }

        Publish(replica);
    }

    private void Publish(SimReplica replica) =>
        _router.Upsert(_admission.Load(replica.Index).ToView(_facts[replica.Index], _admission.MaxRunningPerReplica, Context.NowUnixMs));
}
