using Gorgo.Engine.Profiles;
using Gorgo.Routing.Fleet;
using Gorgo.Scenarios;

namespace Gorgo.Simulator;

/// <summary>
/// What every piece of one simulated run shares: the scenario, the virtual clock, the event list and the run's one
/// random source, the RTTs, and how an event is scheduled (see <see cref="Then"/>).
/// </summary>
internal sealed class SimContext(Scenario scenario, RunSpec run, RttMatrix rtt, EngineProfile profile, bool handleDueAtOnce)
{
    private const double UnknownPeerRttMs = 0;

    /// <summary>Handles an event at once (the run's dispatch), for <see cref="Then"/>.</summary>
    public Action<SimEvent>? Dispatch { get; set; }

    public Scenario Scenario { get; } = scenario;

    public RunSpec Run { get; } = run;

    public RttMatrix RttMatrix { get; } = rtt;

    /// <summary>The profile the routers are told of (digests, views, the cost model's t_p).</summary>
    public EngineProfile Profile { get; } = profile;

    /// <summary>The profile the engines really run (the same as <see cref="Profile"/> unless the run models a mismatch).</summary>
    public EngineProfile TrueProfile { get; init; } = profile;

    public VirtualClock Clock { get; } = new();

    public EventQueue Events { get; } = new();

    /// <summary>The run's one random source (phases, gossip peers), seeded by the scenario.</summary>
    public Random Random { get; } = new(scenario.Seed);

    /// <summary>Events handled so far.</summary>
    public long Handled { get; set; }

    /// <summary>Virtual now, ms.</summary>
    public double NowMs => Clock.NowMs;

    /// <summary>Virtual now as the Unix ms the routing core and the mesh protocol read.</summary>
    public long NowUnixMs => VirtualClock.UnixMs(Clock.NowMs);

    /// <summary>Whether requests are still to come or in flight (periodic events keep going only then).</summary>
    public bool Busy => WorkloadPending || InFlight > 0;

    /// <summary>Whether the workload still has requests to send.</summary>
    public bool WorkloadPending { get; set; } = true;

    /// <summary>Told, when a request is accounted for, the virtual time its client saw its response end (a closed loop sends the next then).</summary>
    public Action<double>? ClientDone { get; set; }

    /// <summary>Requests sent and not yet accounted for.</summary>
    public long InFlight { get; set; }

    /// <summary>Schedules an event.</summary>
    public void At(double atMs, in SimEvent e) => Events.At(atMs, e);

    /// <summary>
    /// Schedules an event as the last thing a handler does. One due at this instant, with nothing else due by then, is
    /// handled at once: the loop would take it next anyway (the same order, one heap round trip fewer; in-process hops
    /// inside a region have no delay, so most requests' decision and arrival at their replica are such events).
    /// </summary>
    public void Then(double atMs, in SimEvent e)
    {
        if (handleDueAtOnce && atMs == Clock.NowMs && !Events.AnyDueBy(atMs))
        {
            Handled++;
            Dispatch!(e);
            return;
        }

        Events.At(atMs, e);
    }

    public string RegionName(int region) => RttMatrix.Regions[region];

    public double Rtt(int from, int to) => from < 0 || to < 0 ? UnknownPeerRttMs : RttMatrix[from, to];

    /// <summary>Half the RTT between two regions; zero inside one region when that hop is in process.</summary>
    public double OneWay(int from, int to, bool sameRegionFree) => from == to && sameRegionFree ? 0 : Rtt(from, to) / 2;
}
