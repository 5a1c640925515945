using Gorgo.Engine.Model;
using Gorgo.Routing.Decisions;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator;

/// <summary>
/// How a simulated run routes: a mesh node per region (<see cref="MeshDriver"/>), one proxy
/// (<see cref="ProxyDriver"/>) or the clairvoyant oracle (<see cref="OracleDriver"/>). The run's loop hands it
/// requests and its own events; the fleet tells it what its replicas did.
/// </summary>
internal abstract class RunDriver(SimContext context, SimFleet fleet, RunResults results)
{
    private readonly OutcomeForecaster? _outcomes = context.Scenario.Sim.OutcomeMetrics ? new OutcomeForecaster(context, fleet) : null;

    protected SimContext Context { get; } = context;

    protected SimFleet Fleet { get; } = fleet;

    protected RunResults Results { get; } = results;

    /// <summary>Sets up what runs before the first request (views, periodic events).</summary>
    public abstract void Start();

    /// <summary>The region whose node (or proxy) routes requests of users in <paramref name="user"/>.</summary>
    public abstract int IngressOf(int user);

    /// <summary>A request leaves its client: route it when it reaches the ingress (and any queries are answered).</summary>
    public abstract void OnArrival(SimRequest request);

    /// <summary>Handles the driver's own events (decisions, gossip, sync, proxy releases...).</summary>
    public abstract void Handle(in SimEvent e);

    /// <summary>The time from a replica's output to the request's client.</summary>
    public abstract double ReturnLegMs(SimRequest request, SimReplica replica);

    /// <summary>The time from the request's ingress (node or proxy) to <paramref name="replica"/>.</summary>
    public abstract double ForwardLegMs(SimRequest request, SimReplica replica);

    /// <summary>Fleet indices of the replicas the deployment could send the request to.</summary>
    public abstract int[] Pool(SimRequest request);

    /// <summary>A request was sent on to its replica and arrives then.</summary>
    public virtual void OnForwarded(SimRequest request, SimReplica replica, double arriveAtMs)
    {
    }

    /// <summary>
    /// A request reaches <paramref name="replica"/>, before the engine sees it; returns the replica that takes it (the mesh
    /// may rebind it to another of the region's replicas), or null when the driver sent it on to another region's.
    /// </summary>
    public virtual SimReplica? OnArriving(SimRequest request, SimReplica replica) => replica;

    /// <summary>A request reached its replica (before the engine takes it).</summary>
    public virtual void OnReplicaArrived(SimRequest request, SimReplica replica)
    {
    }

    /// <summary>The engine took a request while a step was under way.</summary>
    public virtual void OnAdmitted(SimReplica replica)
    {
    }

    /// <summary>The engine planned its next step (or went idle).</summary>
    public virtual void OnPlanned(SimReplica replica)
    {
    }

    /// <summary>The engine completed a step (its finished requests already accounted for).</summary>
    public virtual void OnStepped(SimReplica replica)
    {
    }

    /// <summary>A request finished on its replica (<paramref name="timing"/>: when its first token and its end left the engine).</summary>
    public virtual void OnFinished(SimRequest request, SimReplica replica, RequestTiming timing)
    {
    }

    /// <summary>The replica refused a request (it already failed).</summary>
    public virtual void OnRefused(SimRequest request, SimReplica replica)
    {
    }

    /// <summary>A request reached a replica that is down or failing (faults only): by default it fails.</summary>
    public virtual void OnAttemptFailed(SimRequest request, SimReplica replica, string reason) => Results.Fail(request, 503, $"Replica '{replica.Id}' failed: {reason}.");

    /// <summary>Whether a request that finished on its replica is not completed yet (faults only: its stream is stalled).</summary>
    public virtual bool HoldsCompletion(SimRequest request, SimReplica replica, RequestTiming timing) => false;

    /// <summary>The run's summary with what only this driver knows (gossip bytes).</summary>
    public virtual RunSummary Summarize(RunSummary summary) => summary;

    /// <summary>
    /// As the request reaches its ingress (before any query, queue or decision), forecasts from the true engine
    /// states the best TTFT it could get anywhere in its pool and in its client's region, for the outcome metrics
    /// (<c>sim.outcomeMetrics</c>).
    /// </summary>
    protected void ForecastOutcomes(SimRequest request) =>
        _outcomes?.Record(request, Pool(request), r => ForwardLegMs(request, r), r => ReturnLegMs(request, r));

    /// <summary>Records what a router's decision said of the chosen replica on the request.</summary>
    protected static void Record(SimRequest request, int replica, in RoutedChoice decision)
    {
        CandidateScore chosen = decision.Chosen;
        request.Replica = replica;
        request.ReboundFrom = null;
        request.RelayRegion = null;
        request.StateAgeMs = chosen.StateAgeMs;
        request.EstimatedTtftMs = chosen.Estimate.TotalMs;
        request.EstimatedNetworkMs = chosen.Estimate.NetworkMs;
        request.BaseQueueMs = decision.ChosenModelEstimate.QueueMs;
        request.BasePrefillMs = decision.ChosenModelEstimate.PrefillMs;
        request.MatchedTokens = chosen.MatchedTokens;
        request.HomeIdleOverride = decision.HomeIdleOverride;
    }
}
