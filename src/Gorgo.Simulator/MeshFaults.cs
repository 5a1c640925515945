using Gorgo.Engine.Model;
using Gorgo.Routing.Decisions;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator;

/// <summary>
/// The faults of a scenario in a simulated mesh run, modelled on what the live mesh does (see benchmarks/README.md,
/// "Faults"). A killed node's replicas lose their work and caches; its own clients' streams that had a first token
/// are lost (with <c>mesh.gateways</c>: end with an error event), the rest move on to the nearest other node; elsewhere a request on a dead or failing replica is retried
/// before its first token (as the front door does by default: <see cref="Retries"/>) and ends with an error
/// event after it; survivors learn of the death after <c>sim.failureDetectionMs</c>. A stopped node stops admitting,
/// announces its replicas draining, lets its work finish (up to <c>sim.drainTimeoutMs</c>) and leaves. A restarted
/// node comes back after <c>sim.nodeStartMs</c> with empty caches and a new incarnation. A partition drops gossip and
/// sync between two regions (their exchanges time out) and stalls requests across it until
/// <c>sim.responseTimeoutMs</c>, when they fail as above. A failing replica reports itself unhealthy; a slow one's
/// steps take <c>factor</c> times longer.
/// </summary>
/// <remarks>Not modelled: the front door's circuit breakers, and the retry backoff's jitter.</remarks>
internal sealed class MeshFaults(SimContext context, SimFleet fleet, RunResults results, MeshDriver mesh)
{
    private readonly HashSet<SimRequest> _inFlight = [];
    private readonly HashSet<(int, int)> _partitions = [];
    private readonly List<ExecutedFault> _executed = [];
    private readonly NodeFate[] _fates = new NodeFate[context.RttMatrix.Regions.Count];
    /// <summary>The faults executed so far, at their times.</summary>
    public IReadOnlyList<ExecutedFault> Executed => _executed;

    private SimSpec Settings => context.Scenario.Sim;

    /// <summary>Schedules every fault of the scenario.</summary>
    public void Start()
    {
        foreach (FaultSpec fault in context.Scenario.Faults.OrderBy(f => f.AtSeconds))
        {
            At(fault.AtSeconds * 1000, () => Apply(fault));
        }
    }

    /// <summary>Whether a region's node is up (not killed, and not gone after a stop).</summary>
    public bool IsUp(int region) => _fates[region] is NodeFate.Up or NodeFate.Draining;

    /// <summary>Whether a region's node takes new requests (up and not draining).</summary>
    public bool Accepts(int region) => _fates[region] == NodeFate.Up;

    /// <summary>Whether a region's node is draining (its replicas are reported so).</summary>
    public bool IsDraining(int region) => _fates[region] == NodeFate.Draining;

    /// <summary>Whether the network between two regions is partitioned.</summary>
    public bool Partitioned(int a, int b) => _partitions.Count > 0 && _partitions.Contains(Pair(a, b));

    /// <summary>The node a client of <paramref name="user"/> reaches: its own, or the nearest that takes requests (the client moved on); -1 when none does.</summary>
    public int EntryFor(int user)
    {
        if (Accepts(user))
        {
            return user;
        }

        int best = -1;
        for (int r = 0; r < _fates.Length; r++)
        {
            if (Accepts(r) && context.Scenario.Regions.Contains(context.RegionName(r)) && (best < 0 || context.Rtt(user, r) < context.Rtt(user, best)))
            {
                best = r;
            }
        }

        return best;
    }

    /// <summary>A request entered the mesh: followed until it ends.</summary>
    public void Track(SimRequest request) => _inFlight.Add(request);

    /// <summary>A request ended (completed or failed): no longer followed; a draining node with nothing left leaves.</summary>
    public void Untrack(SimRequest request)
    {
        if (_inFlight.Remove(request) && _fates.Contains(NodeFate.Draining))
        {
            for (int r = 0; r < _fates.Length; r++)
            {
                if (_fates[r] == NodeFate.Draining && !_inFlight.Any(q => Involves(q, r)))
                {
                    Leave(r);
                }
            }
        }
    }

    /// <summary>
    /// The request is about to be sent from its node to <paramref name="replica"/>: true when the link is partitioned,
    /// in which case the attempt stalls and fails after the response timeout (the caller sends nothing).
    /// </summary>
    public bool Stalls(SimRequest request, SimReplica replica)
    {
        if (!Partitioned(request.Ingress, replica.Region))
        {
            return false;
        }

        BeginStall(request, replica);
        return true;
    }

    /// <summary>
    /// <paramref name="node"/> now treats <paramref name="peer"/> as unreachable (its calls there kept failing): the
    /// calls it has stalled there are abandoned at once, as the live front door abandons them, and end as a stall does.
    /// </summary>
    public void Unreachable(int node, int peer)
    {
        foreach (SimRequest request in _inFlight.Where(r => r.Stall is not null && r.Ingress == node && r.Replica >= 0 && fleet.Replicas[r.Replica].Region == peer).ToList())
        {
            EndStall(request, fleet.Replicas[request.Replica]);
        }
    }

    /// <summary>An attempt failed at <paramref name="replica"/> before its first token: the failure reaches the request's node after the one-way leg, which retries or gives up.</summary>
    public void FailedAtReplica(SimRequest request, SimReplica replica, string reason)
    {
        int epoch = request.Epoch;
        At(context.NowMs + context.OneWay(replica.Region, request.Ingress, sameRegionFree: true), () =>
        {
            if (Current(request, epoch))
            {
                AttemptFailed(request, replica, reason);
            }
        });
    }

    /// <summary>Whether a finished request's completion is held back: its stream is stalled by a partition (the stall's end decides).</summary>
    public bool HoldsCompletion(SimRequest request) => request.Stall is not null;

    private void Apply(FaultSpec fault)
    {
        _executed.Add(new ExecutedFault(fault, context.NowMs));
        int region = context.RttMatrix.IndexOf(fault.Target);
        switch (fault.Kind)
        {
            case FaultKind.KillNode:
                Kill(region);
                break;
            case FaultKind.StopNode:
                Stop(region);
                break;
            case FaultKind.RestartNode:
                if (_fates[region] == NodeFate.Draining)
                {
                    _restartWhenGone[region] = true;
                }
                else
                {
                    At(context.NowMs + Settings.NodeStartMs, () => ComeUp(region));
                }

                break;
            case FaultKind.Partition:
                Partition(region, context.RttMatrix.IndexOf(fault.Peer!));
                break;
            case FaultKind.Heal:
                _partitions.Remove(Pair(region, context.RttMatrix.IndexOf(fault.Peer!)));
                break;
            case FaultKind.FailReplica:
                SimReplica failing = fleet[fault.Target];
                failing.Failing = true;
                Evict(failing, resetEngine: false, "the replica failed");
                break;
            case FaultKind.SlowReplica:
                fleet[fault.Target].Engine.Slowdown = fault.Factor;
                break;
            case FaultKind.RestoreReplica:
                SimReplica restored = fleet[fault.Target];
                restored.Failing = false;
                restored.Engine.Slowdown = 1;
                break;
        }
    }

    private readonly bool[] _restartWhenGone = new bool[context.RttMatrix.Regions.Count];

    /// <summary>SIGKILL: the node and its replicas' work are gone at once; survivors learn of it after the failure detection time.</summary>
    private void Kill(int region)
    {
        _fates[region] = NodeFate.Down;

        // Its own clients: a stream with a first token dies with the connection, or, through a gateway (which outlives the
        // node), ends with an error event; the others move on to another node (the client or the gateway retries).
        foreach (SimRequest request in _inFlight.Where(r => r.Ingress == region).ToList())
        {
            double? first = FirstTokenMs(request);
            CancelOnReplica(request);
            if (first is not null)
            {
                if (context.Scenario.UsesGateways(context.Run))
                {
                    results.EndStream(request, StreamEnding.ErrorEvent, first, "its node was killed; the gateway ended the stream");
                }
                else
                {
                    results.EndStream(request, StreamEnding.Cut, first, "the connection to its node broke (the node was killed)");
                }
            }
            else
            {
                MoveOn(request);
            }
        }

        foreach (SimReplica replica in fleet.Replicas.Where(r => r.Region == region))
        {
            Evict(replica, resetEngine: true, "its node was killed");
            replica.Down = true;
        }

        At(context.NowMs + Settings.FailureDetectionMs, () => Detected(region));
    }

    /// <summary>SIGTERM: the node stops admitting, announces its replicas draining, and leaves once its work is done or the drain times out.</summary>
    private void Stop(int region)
    {
        _fates[region] = NodeFate.Draining;
        mesh.Announce(region);
        if (!_inFlight.Any(q => Involves(q, region)))
        {
            Leave(region);
            return;
        }

        At(context.NowMs + Settings.DrainTimeoutMs, () =>
        {
            if (_fates[region] == NodeFate.Draining)
            {
                Kill(region); // what is left is cut as the process exits
                Gone(region);
            }
        });
    }

    /// <summary>A drained node leaves the cluster gracefully: peers learn it after half the RTT.</summary>
    private void Leave(int region)
    {
        _fates[region] = NodeFate.Down;
        foreach (SimReplica replica in fleet.Replicas.Where(r => r.Region == region))
        {
            Evict(replica, resetEngine: true, "its node left");
            replica.Down = true;
        }

        foreach (int peer in Enumerable.Range(0, _fates.Length).Where(p => p != region))
        {
            int down = region;
            At(context.NowMs + (context.Rtt(region, peer) / 2), () => mesh.MarkDown(peer, down));
        }

        Gone(region);
    }

    /// <summary>The node's process is gone: a restart that waited for it goes ahead.</summary>
    private void Gone(int region)
    {
        if (_restartWhenGone[region])
        {
            _restartWhenGone[region] = false;
            At(context.NowMs + Settings.NodeStartMs, () => ComeUp(region));
        }
    }

    private void Detected(int region)
    {
        if (_fates[region] != NodeFate.Down)
        {
            return; // it came back before the cluster declared it dead
        }

        for (int peer = 0; peer < _fates.Length; peer++)
        {
            if (peer != region && IsUp(peer))
            {
                mesh.MarkDown(peer, region);
            }
        }
    }

    private void ComeUp(int region)
    {
        _fates[region] = NodeFate.Up;
        foreach (SimReplica replica in fleet.Replicas.Where(r => r.Region == region))
        {
            replica.Down = false;
        }

        mesh.Restart(region);
    }

    private void Partition(int a, int b)
    {
        _partitions.Add(Pair(a, b));
        foreach (SimRequest request in _inFlight.Where(r => r.Replica >= 0 && r.Stall is null && Pair(r.Ingress, fleet.Replicas[r.Replica].Region) == Pair(a, b)).ToList())
        {
            BeginStall(request, fleet.Replicas[request.Replica]); // the stream's next long-poll never returns
        }
    }

    /// <summary>A call across a partition: it fails at the response timeout, unless its node gives up on the region first.</summary>
    private void BeginStall(SimRequest request, SimReplica replica)
    {
        object stall = request.Stall = new object();
        int epoch = request.Epoch;
        At(context.NowMs + Settings.ResponseTimeoutMs, () =>
        {
            if (Current(request, epoch) && ReferenceEquals(request.Stall, stall))
            {
                EndStall(request, replica);
            }
        });
    }

    /// <summary>A stalled call fails: a stream with a first token out ends with an error event, a request without one is retried.</summary>
    private void EndStall(SimRequest request, SimReplica replica)
    {
        request.Stall = null;
        double? first = FirstTokenMs(request);
        CancelOnReplica(request);
        if (first is not null)
        {
            results.EndStream(request, StreamEnding.ErrorEvent, first, "the network to its replica's region is partitioned");
        }
        else
        {
            AttemptFailed(request, replica, "the network to its region is partitioned");
        }
    }

    /// <summary>
    /// Takes every request off a replica that died or failed: a request with a first token ends with an error event
    /// (its node is alive), one without is retried. A killed node's engine is replaced by an empty one.
    /// </summary>
    private void Evict(SimReplica replica, bool resetEngine, string reason)
    {
        List<SimRequest> active = [.. replica.Active.Values];
        foreach (SimRequest request in active)
        {
            double? first = FirstTokenMs(request);
            CancelOnReplica(request);
            if (!IsUp(request.Ingress))
            {
                continue; // its own node is gone too: handled with that node's clients
            }

            if (first is not null)
            {
                results.EndStream(request, StreamEnding.ErrorEvent, first, $"replica '{replica.Id}' stopped mid-stream: {reason}");
            }
            else
            {
                FailedAtReplica(request, replica, reason);
            }
        }

        if (resetEngine)
        {
            fleet.Reset(replica);
        }
    }

    /// <summary>The request's node retries it on the next best replica, or answers 503 when it has tried enough.</summary>
    private void AttemptFailed(SimRequest request, SimReplica replica, string reason)
    {
        request.Replica = -1;
        (request.Tried ??= []).Add(replica.Id);
        request.LastFailureTransient = !replica.Failing;
        if (request.Attempts >= Retries.DefaultMaxAttempts || !IsUp(request.Ingress))
        {
            results.Fail(request, 503, $"Every replica tried for this request failed ({request.Attempts} tried); last: {reason}.");
            return;
        }

        double backoff = Retries.DefaultBaseDelayMs * Math.Pow(2, request.Attempts - 1);
        request.Attempts++;
        mesh.Retry(request, context.NowMs + backoff);
    }

    /// <summary>A request whose node died before its first token: its client sends it again to the nearest node that takes requests.</summary>
    private void MoveOn(SimRequest request)
    {
        request.Epoch++;
        request.Replica = -1;
        request.Attempts = 1;
        request.Tried = null;
        request.Stall = null;
        request.HeldTtftMs = null;
        request.PendingSync = 0;
        int entry = EntryFor(request.User);
        if (entry < 0)
        {
            results.Fail(request, 0, "No node takes requests: every region's node is down.");
            return;
        }

        request.Ingress = entry;
        mesh.Reenter(request);
    }

    /// <summary>The client-side TTFT of a request whose first token is out, from its replica's engine; null when none is.</summary>
    private double? FirstTokenMs(SimRequest request)
    {
        if (request.HeldTtftMs is { } held)
        {
            return held;
        }

        if (request.Replica < 0 || request.Engine is null)
        {
            return null;
        }

        SimReplica replica = fleet.Replicas[request.Replica];
        return replica.Active.ContainsKey(request.Shape.Index) && replica.Engine.FirstTokenMsOf(request.Engine.Id) is { } produced
            ? produced + mesh.ReturnLegMs(request, replica) - request.Shape.ArrivalMs
            : null;
    }

    private void CancelOnReplica(SimRequest request)
    {
        if (request.Replica >= 0 && fleet.Replicas[request.Replica] is { } replica && replica.Active.Remove(request.Shape.Index))
        {
            fleet.CutRun(replica);
            replica.Engine.Cancel(request.Engine!.Id);
        }
    }

    private bool Involves(SimRequest request, int region) =>
        request.Ingress == region || (request.Replica >= 0 && fleet.Replicas[request.Replica].Region == region);

    private static bool Current(SimRequest request, int epoch) => !request.Done && request.Epoch == epoch;

    private static (int, int) Pair(int a, int b) => a < b ? (a, b) : (b, a);

    private void At(double atMs, Action step) => context.At(atMs, new SimEvent(EventKind.FaultStep, -1, step));

    /// <summary>Where a region's node is in its life.</summary>
    private enum NodeFate
    {
        Up,
        Draining,
        Down,
    }
}
