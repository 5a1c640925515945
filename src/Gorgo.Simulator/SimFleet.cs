using Gorgo.Engine.Model;

namespace Gorgo.Simulator;

/// <summary>
/// The fleet of a simulated run: an <see cref="EngineCore"/> per replica on the virtual clock, requests reaching
/// their replica, engine steps (decode-only steps planned as one run, cut when something arrives) and finished
/// requests; it tells the run's <see cref="RunDriver"/> what changed.
/// </summary>
internal sealed class SimFleet
{
    private readonly SimContext _context;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<RequestTiming> _finished = [];

    /// <summary>Builds the scenario's replicas, in region order, with engines that record cache events when <paramref name="recordCacheEvents"/>.</summary>
    public SimFleet(SimContext context, bool recordCacheEvents)
    {
        _context = context;
        foreach (string name in context.Scenario.Regions)
        {
            int region = context.RttMatrix.IndexOf(name);
            foreach (string id in context.Scenario.ReplicaIds(name))
            {
                int index = Replicas.Count;
                var engine = new EngineCore(context.TrueProfile, 0, context.Scenario.Seed + index);
                engine.Cache.RecordEvents = recordCacheEvents;
                Replicas.Add(new SimReplica(index, id, region, engine));
                _index.Add(id, index);
            }
        }
    }

    /// <summary>Every replica, in fleet order.</summary>
    public List<SimReplica> Replicas { get; } = [];

    /// <summary>The run's driver, told of every change.</summary>
    public RunDriver Driver { get; set; } = null!;

    /// <summary>The run's results.</summary>
    public RunResults Results { get; set; } = null!;

    /// <summary>A replica by id.</summary>
    public SimReplica this[string id] => Replicas[_index[id]];

    /// <summary>Sends a request on to its replica, arriving after <paramref name="delayMs"/>; <paramref name="last"/>: nothing follows in the calling handler (see <see cref="SimContext.Then"/>).</summary>
    public void Forward(SimRequest request, SimReplica replica, double delayMs, bool last = false)
    {
        request.Engine = new EngineRequest(request.Shape.Index, request.Prompt, request.Shape.OutputTokens);
        replica.InTransit.Add((request.Engine, _context.NowMs + delayMs));
        Driver.OnForwarded(request, replica, _context.NowMs + delayMs);
        var arrival = new SimEvent(EventKind.ReplicaArrival, replica.Index, request, request.Epoch);
        if (last)
        {
            _context.Then(_context.NowMs + delayMs, arrival);
        }
        else
        {
            _context.At(_context.NowMs + delayMs, arrival);
        }
    }

    /// <summary>A request reaches its replica: the engine takes it (it joins at the next step boundary) or refuses it; a dead or failing replica fails the attempt.</summary>
    public void OnReplicaArrival(SimReplica replica, SimRequest request, int epoch)
    {
        replica.InTransit.RemoveAll(t => t.Request.Id == request.Shape.Index);
        if (request.Done || epoch != request.Epoch)
        {
            return; // its client sent it again elsewhere meanwhile (faults only)
        }

        if (Driver.OnArriving(request, replica) is not { } serving)
        {
            return; // relayed: it arrives elsewhere later
        }

        replica = serving;
        if (replica.Down || replica.Failing)
        {
            Driver.OnAttemptFailed(request, replica, replica.Down ? "its node is down" : "the replica is failing");
            return;
        }

        Driver.OnReplicaArrived(request, replica);
        EngineRejection rejection = replica.Engine.Submit(request.Engine!, _context.NowMs);
        if (rejection != EngineRejection.None)
        {
            Results.Fail(request, 400, $"The replica refused the request: {rejection}.");
            Driver.OnRefused(request, replica);
            return;
        }

        replica.Active.Add(request.Shape.Index, request);
        if (!replica.Stepping)
        {
            StartStep(replica);
        }
        else
        {
            CutRun(replica); // the request joins at the next step boundary, as it would step by step
            Driver.OnAdmitted(replica);
        }
    }

    /// <summary>A replica's step (or run of steps) ends: finished requests complete, the driver learns of the change, the next step starts.</summary>
    public void OnStepEnd(SimReplica replica)
    {
        _finished.Clear();
        replica.Engine.CompleteStep(_context.NowMs, null, _finished); // first-token times come with the finished requests' timings
        foreach (RequestTiming timing in _finished)
        {
            SimRequest request = replica.Active[timing.RequestId];
            replica.Active.Remove(timing.RequestId);
            if (Driver.HoldsCompletion(request, replica, timing))
            {
                continue;
            }

            Results.Complete(request, replica, timing, Driver.ReturnLegMs(request, replica));
            Driver.OnFinished(request, replica, timing);
        }

        Driver.OnStepped(replica);
        StartStep(replica);
    }

    /// <summary>Faults only: the replica's node died, so its engine is replaced by an empty one (no work, no cache); steps planned on the old one are stale.</summary>
    public void Reset(SimReplica replica)
    {
        var engine = new EngineCore(_context.TrueProfile, 0, _context.Scenario.Seed + replica.Index);
        engine.Cache.RecordEvents = replica.Engine.Cache.RecordEvents;
        replica.Engine = engine;
        replica.Active.Clear();
        replica.InTransit.Clear();
        replica.Stepping = false;
        replica.StepStamp++;
    }

    /// <summary>Shortens the replica's decode run, if one is under way, to the step under way now.</summary>
    public void CutRun(SimReplica replica)
    {
        if (replica.Stepping && replica.Engine.PlannedSteps > 1)
        {
            ScheduleStepEnd(replica, replica.Engine.CutRun(_context.NowMs, null)); // a run's steps only decode: no first tokens in them
        }
    }

    /// <summary>
    /// Plans the replica's next step. Decode steps with nothing to admit are planned as one run up to the first
    /// finishing request (one event instead of one per token); an arrival or the oracle's look cuts the run to the
    /// step under way, so every step happens when it would step by step.
    /// </summary>
    private void StartStep(SimReplica replica)
    {
        replica.Stepping = replica.Engine.PlanStep(_context.NowMs, int.MaxValue) is not null;
        Driver.OnPlanned(replica);
        if (replica.Stepping)
        {
            ScheduleStepEnd(replica, replica.Engine.PlannedEndMs);
        }
    }

    private void ScheduleStepEnd(SimReplica replica, double atMs)
    {
        replica.StepEndsAtMs = atMs;
        replica.StepStamp++;
        _context.At(atMs, new SimEvent(EventKind.StepEnd, replica.Index, Stamp: replica.StepStamp));
    }
}
