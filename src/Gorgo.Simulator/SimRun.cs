using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Core;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;
using Gorgo.Routing.Policies;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios.Workload;

namespace Gorgo.Simulator;

/// <summary>How a simulated run routes.</summary>
internal enum RunKind
{
    /// <summary>A node per region routes on its own view (gossip, sync, local-only or shared).</summary>
    Mesh,

    /// <summary>One router in the proxy's region routes everything.</summary>
    Proxy,

    /// <summary>The clairvoyant greedy oracle: exact instantaneous state, the least forecast TTFT.</summary>
    Oracle,
}

/// <summary>
/// One simulated run of a scenario: sets up the fleet (<see cref="SimFleet"/>), the driver of its deployment (mesh,
/// proxy or oracle) and its results, then replays the workload on a virtual clock through a single-threaded event
/// loop that hands every event to the piece it belongs to. An open-loop load sends each request at its arrival time;
/// a closed loop (<c>load.mode</c> <c>concurrency</c>) starts its clients at once and sends a client's next request
/// when its client saw the last response end, plus the think time.
/// </summary>
/// <remarks>
/// Timing mirrors the live deployments: a client in its region reaches the mesh node of that region at once, or the
/// proxy after half the RTT; a node serves its own replicas in process and other regions' through one cross-region
/// hop (half the RTT each way). Each driver documents the rest.
/// </remarks>
internal sealed class SimRun
{
    private readonly SimContext _context;
    private readonly SimFleet _fleet;
    private readonly RunDriver _driver;
    private readonly RunResults _results;
    private readonly BlockHasher _hasher;
    private readonly PromptSynthesizer _synthesizer;
    private IEnumerator<RequestShape>? _workload;
    private double _lastArrivalMs;

    /// <summary>
    /// Builds the run's fleet; nothing happens until <see cref="Run"/>. Without <c>handleDueAtOnce</c> every event goes
    /// through the heap (see <see cref="SimContext.Then"/>; the same results, a test checks it). <c>trueProfile</c> is
    /// the profile the engines really run when it differs from <c>profile</c>, which is what the routers are told.
    /// </summary>
    public SimRun(Scenario scenario, RunSpec run, RunKind kind, RttMatrix rtt, EngineProfile profile, bool keepRecords, bool handleDueAtOnce = true, EngineProfile? trueProfile = null)
    {
        if (trueProfile is not null && trueProfile.BlockSize != profile.BlockSize)
        {
            throw new ArgumentException($"The true profile's block size ({trueProfile.BlockSize}) must be the routers' ({profile.BlockSize}).", nameof(trueProfile));
        }

        _context = new SimContext(scenario, run, rtt, profile, handleDueAtOnce) { Dispatch = Handle, TrueProfile = trueProfile ?? profile };
        _hasher = new BlockHasher(profile.BlockSize);
        _synthesizer = new PromptSynthesizer(scenario.Seed, scenario.Trace.Sharing);
        _fleet = new SimFleet(_context, recordCacheEvents: kind is RunKind.Mesh or RunKind.Oracle);
        bool faults = scenario.Faults.Count > 0;
        _results = new RunResults(_context, kind == RunKind.Oracle ? "exact" : run.ConsistencyName, kind == RunKind.Oracle ? "global" : run.ScopeName, keepRecords || faults)
        {
            RecordAttempts = faults, // fault outcomes are measured from the records
            ReplicaOf = i => (_fleet.Replicas[i].Region, _fleet.Replicas[i].Id),
        };
        var routerBase = new RouterOptions
        {
            Region = scenario.Regions[0],
            BlockSize = profile.BlockSize,
            Policy = new PolicyOptions { Name = kind == RunKind.Oracle ? PolicyCatalog.Gorgo : run.Policy, Seed = scenario.Seed },
            NearestRegions = scenario.Mesh.NearestRegions,
            CountPeerPendingWork = scenario.Mesh.CountPeerPendingWork,
            Index = IndexOptions(scenario, profile),
            Cost = run.CostOptions(calibrationAllowed: kind == RunKind.Mesh),
        };
        _driver = kind switch
        {
            RunKind.Mesh => new MeshDriver(_context, _fleet, _results, run.EffectiveConsistency ?? ConsistencyMode.Gossip, routerBase),
            RunKind.Proxy => new ProxyDriver(_context, _fleet, _results, routerBase),
            _ => new OracleDriver(_context, _fleet, _results),
        };
        _fleet.Driver = _driver;
        _fleet.Results = _results;
    }

    /// <summary>Events processed.</summary>
    public long Events => _context.Handled;

    /// <summary>Virtual time the run lasted, ms.</summary>
    public double VirtualMs => _context.NowMs;

    /// <summary>Every request's record, when kept.</summary>
    public IReadOnlyList<RequestRecord>? Records => _results.Records;

    /// <summary>The run's deployment driver (tests look at its nodes).</summary>
    internal RunDriver Driver => _driver;

    /// <summary>The run's clock, events and settings (tests move its time).</summary>
    internal SimContext Context => _context;

    /// <summary>
    /// The routers' prefix index options: the live default bound per replica, in tokens, so a coarser simulated block size
    /// (<c>sim.blockSize</c>) bounds a node's belief about a replica at as many tokens as a live node's; remote replicas
    /// in their own sets (same answers, far fewer cache misses per merge or cache event across a hundred routers).
    /// </summary>
    private static PrefixIndexOptions IndexOptions(Scenario scenario, EngineProfile profile)
    {
        var live = new PrefixIndexOptions { OwnSets = PrefixOwnSets.Remote }; // a hundred routers' updates in one process: see the option
        int liveBlockSize = scenario.LoadProfile().BlockSize;
        return profile.BlockSize == liveBlockSize
            ? live
            : live with { MaxBlocksPerReplica = (int)Math.Max(1, (long)live.MaxBlocksPerReplica * liveBlockSize / profile.BlockSize) };
    }

    /// <summary>Replays the workload to the end and returns the run's summary.</summary>
    public RunSummary Run(IEnumerable<RequestShape> workload, Action<int>? progress, CancellationToken cancellationToken)
    {
        _driver.Start();
        _workload = workload.GetEnumerator();
        LoadSpec load = _context.Scenario.Traffic;
        if (load.ClosedLoop)
        {
            _context.ClientDone = done => SendNext(done + load.ThinkMs);
            for (int client = 0; client < load.Concurrency; client++)
            {
                SendNext(0);
            }

            _context.WorkloadPending = false; // from now on a request is sent only while another is in flight
        }
        else
        {
            ScheduleNextArrival();
        }

        while (_context.Events.TryNext(out SimEvent e, out double at))
        {
            _context.Clock.AdvanceTo(at);
            _context.Handled++;
            Handle(e);
            if ((_context.Handled & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Invoke(_results.Requests);
            }

            if (!_context.Busy)
            {
                break; // only periodic events remain
            }
        }

        progress?.Invoke(_results.Requests);
        return _driver.Summarize(_results.ToSummary());
    }

    private void Handle(SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Arrival:
                OnArrival((RequestShape)e.Payload!);
                break;
            case EventKind.ReplicaArrival:
                _fleet.OnReplicaArrival(_fleet.Replicas[e.Target], (SimRequest)e.Payload!, e.Stamp);
                break;
            case EventKind.StepEnd when e.Stamp == _fleet.Replicas[e.Target].StepStamp:
                _fleet.OnStepEnd(_fleet.Replicas[e.Target]);
                break;
            case EventKind.StepEnd:
                break; // the end of a run that was cut short
            default:
                _driver.Handle(e);
                break;
        }
    }

    private void ScheduleNextArrival()
    {
        if (_workload is null)
        {
            return;
        }

        if (!_workload.MoveNext())
        {
            _workload.Dispose();
            _workload = null;
            _context.WorkloadPending = false;
            return;
        }

        RequestShape shape = _workload.Current;
        if (shape.ArrivalMs < _lastArrivalMs)
        {
            throw new InvalidOperationException($"The workload is not in arrival order at request {shape.Index}.");
        }

        _lastArrivalMs = shape.ArrivalMs;
        int user = _context.RttMatrix.IndexOf(shape.UserRegion);
        if (user < 0)
        {
            throw new InvalidOperationException($"Request {shape.Index} comes from unknown region '{shape.UserRegion}'.");
        }

        _context.At(shape.ArrivalMs, new SimEvent(EventKind.Arrival, user, shape));
        _context.InFlight++;
    }

    /// <summary>A closed-loop client sends the workload's next request at <paramref name="atMs"/>, unless the workload or its duration is over.</summary>
    private void SendNext(double atMs)
    {
        double endMs = _context.Scenario.Traffic.DurationSeconds > 0 ? _context.Scenario.Traffic.DurationSeconds * 1000 : double.PositiveInfinity;
        if (_workload is null || atMs > endMs || !_workload.MoveNext())
        {
            _workload?.Dispose();
            _workload = null;
            return;
        }

        RequestShape shape = _workload.Current with { ArrivalMs = atMs };
        _context.At(atMs, new SimEvent(EventKind.Arrival, _context.RttMatrix.IndexOf(shape.UserRegion), shape));
        _context.InFlight++;
    }

    private void OnArrival(RequestShape shape)
    {
        if (!_context.Scenario.Traffic.ClosedLoop)
        {
            ScheduleNextArrival();
        }

        int user = _context.RttMatrix.IndexOf(shape.UserRegion);
        _driver.OnArrival(new SimRequest(shape, _synthesizer.Blocks(shape, _hasher), user, _driver.IngressOf(user)));
    }
}
