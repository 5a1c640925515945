using Gorgo.Scenarios.Workload;
using Gorgo.Engine.Model;
using Gorgo.Proxy.Core;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Hashing;

namespace Gorgo.Simulator;

/// <summary>A request in flight in the simulation.</summary>
internal sealed class SimRequest(RequestShape shape, PromptBlocks prompt, int user, int ingress)
{
    public RequestShape Shape { get; } = shape;

    public PromptBlocks Prompt { get; } = prompt;

    /// <summary>The client's region (index).</summary>
    public int User { get; } = user;

    /// <summary>The region whose node (or proxy) routes it (another one when the client moved on from a node that was down).</summary>
    public int Ingress { get; set; } = ingress;

    /// <summary>Replicas the request was sent to so far (1 unless an attempt failed before its first token and it was retried).</summary>
    public int Attempts { get; set; } = 1;

    /// <summary>Replicas tried that failed before the current one, in order (null when none).</summary>
    public List<string>? Tried { get; set; }

    /// <summary>Whether the last failed attempt could not reach its replica (its node down, its region cut off) rather than being answered with an error: the live front door's transient failure, which may be retried on the same replica.</summary>
    public bool LastFailureTransient { get; set; }

    /// <summary>Faults only: the stall its call to its replica is in (a partition), or null; a timer holding another is stale.</summary>
    public object? Stall { get; set; }

    /// <summary>Faults only: its client-side TTFT when it finished on its replica while its stream was stalled (the stall decides how it ends).</summary>
    public double? HeldTtftMs { get; set; }

    /// <summary>How many times its client sent it again to another node (events stamped with an older epoch are stale).</summary>
    public int Epoch { get; set; }

    /// <summary>Whether it has been accounted for (completed or failed): later events for it are stale.</summary>
    public bool Done { get; set; }

    /// <summary>The request as its replica's engine receives it (set when it is forwarded).</summary>
    public EngineRequest? Engine { get; set; }

    /// <summary>The chosen replica, -1 before the decision.</summary>
    public int Replica { get; set; } = -1;

    /// <summary>The replica the deciding node chose, when the node of its region rebound the request to another on arrival; null otherwise.</summary>
    public string? ReboundFrom { get; set; }

    /// <summary>The region whose node relayed the request on to another region's replica as it arrived; null otherwise.</summary>
    public int? RelayRegion { get; set; }

    /// <summary>Sync answers still awaited before the decision.</summary>
    public int PendingSync { get; set; }

    /// <summary>Age of the chosen replica's state at decision time.</summary>
    public double StateAgeMs { get; set; }

    /// <summary>Whether the decision overrode an idle home replica (as the router saw it).</summary>
    public bool HomeIdleOverride { get; set; }

    /// <summary>The least TTFT, forecast from the true engine states when the request reached its ingress, over every replica its deployment could send it to (null when not forecast).</summary>
    public double? BestForecastTtftMs { get; set; }

    /// <summary>The same over the replicas of the client's own region (null when not forecast or there are none).</summary>
    public double? BestHomeForecastTtftMs { get; set; }

    /// <summary>The serving region's node's model estimate when the request reached it from another region, and when (ms); null when that node did not route it.</summary>
    public (TtftEstimate Model, double AtMs)? ArrivalModel { get; set; }

    /// <summary>The router's estimated TTFT.</summary>
    public double EstimatedTtftMs { get; set; }

    /// <summary>The network part of that estimate (RTT to the replica's region plus the client's leg).</summary>
    public double EstimatedNetworkMs { get; set; }

    /// <summary>The queue term as the uncalibrated cost model put it for the chosen replica.</summary>
    public double BaseQueueMs { get; set; }

    /// <summary>The prefill term as the uncalibrated cost model put it for the chosen replica.</summary>
    public double BasePrefillMs { get; set; }

    /// <summary>Prompt tokens the router believed cached on the chosen replica.</summary>
    public int MatchedTokens { get; set; }

    /// <summary>Proxy runs: the request's place in the proxy's admission.</summary>
    public ProxyTicket<SimRequest>? Ticket { get; set; }
}

/// <summary>One replica: an engine on the virtual clock.</summary>
internal sealed class SimReplica(int index, string id, int region, EngineCore engine)
{
    public int Index { get; } = index;

    public string Id { get; } = id;

    public int Region { get; } = region;

    /// <summary>The replica's engine (a new, empty one after its node restarts).</summary>
    public EngineCore Engine { get; set; } = engine;

    /// <summary>Faults only: whether its node is down (killed, or stopped and gone), so it takes nothing.</summary>
    public bool Down { get; set; }

    /// <summary>Faults only: whether an injected failure is under way (it refuses requests and reports itself unhealthy).</summary>
    public bool Failing { get; set; }

    /// <summary>Whether a step is under way, and when it ends.</summary>
    public bool Stepping { get; set; }

    public double StepEndsAtMs { get; set; }

    /// <summary>Numbers the replica's scheduled step ends: an end whose stamp is not this one belongs to a run that was cut.</summary>
    public int StepStamp { get; set; }

    /// <summary>Requests sent to this replica and not yet arrived, with their arrival times (for forecasts).</summary>
    public List<(EngineRequest Request, double ArriveAtMs)> InTransit { get; } = [];

    /// <summary>Requests on the engine by engine id.</summary>
    public Dictionary<long, SimRequest> Active { get; } = [];
}

/// <summary>A gossip message (or the reply to one) on its way between two regions' nodes: the bytes the mesh protocol made (in segments, as it made them).</summary>
/// <remarks>Faults only: <c>Life</c> is the waiting node's life when the round began, <c>Lost</c> a reply that never came (the exchange timed out), <c>Announce</c> a draining node's announcement to every peer (and its replies), outside the gossip rounds.</remarks>
internal sealed record SimGossip(int From, int To, System.Buffers.ReadOnlySequence<byte> Bytes, bool IsReply, int Life = 0, bool Lost = false, bool Announce = false);

/// <summary>A sync query of one peer on behalf of one request, and the peer's encoded answer.</summary>
/// <remarks>Faults only: an answer of null is a peer that never answered (the query timed out); <c>Epoch</c> is the request's when asked.</remarks>
internal sealed record SyncExchange(SimRequest Request, int Peer, byte[]? Answer = null, int Epoch = 0);
