using System.Collections.Concurrent;
using System.Diagnostics;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Workload;
using Gorgo.Engine.Profiles;
using Gorgo.Routing.Fleet;

namespace Gorgo.Simulator;

/// <summary>A simulation's outputs: the summary (as <c>gorgo bench</c> writes it, with <c>simulated: true</c>) and, when kept, every request.</summary>
public sealed record SimulationResult(BenchSummary Summary, IReadOnlyList<RequestRecord>? Records);

/// <summary>
/// <c>gorgo sim</c>: simulates every run of a scenario, plus the clairvoyant <c>oracle</c> run, in virtual time with
/// the routing core and the engine model unchanged. Runs are independent and deterministic for the scenario's seed, so
/// they run in parallel and the same scenario gives the same <c>runs</c>, byte for byte.
/// </summary>
public sealed class Simulation(Scenario scenario)
{
    /// <summary>Name (and policy) of the run the simulator always adds.</summary>
    public const string OracleName = "oracle";

    /// <summary>Whether a zero-delay event that ends its handler is handled at once rather than through the event heap (same results, fewer heap operations).</summary>
    internal bool HandleDueEventsAtOnce { get; init; } = true;

    /// <summary>The scenario simulated.</summary>
    public Scenario Scenario { get; } = scenario ?? throw new ArgumentNullException(nameof(scenario));

    /// <summary>The engine profile of the simulation: the scenario's, with <c>sim.blockSize</c> applied (KV capacity in tokens kept).</summary>
    public static EngineProfile ProfileOf(Scenario scenario) => Simulated(scenario, (scenario ?? throw new ArgumentNullException(nameof(scenario))).LoadProfile());

    /// <summary>A profile as the simulation runs it: with <c>sim.blockSize</c> applied (KV capacity in tokens kept).</summary>
    public static EngineProfile Simulated(Scenario scenario, EngineProfile profile)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(profile);
        int blockSize = scenario.Sim.BlockSize;
        if (blockSize <= 0 || blockSize == profile.BlockSize)
        {
            return profile;
        }

        long capacityTokens = (long)profile.KvCapacityBlocks * profile.BlockSize;
        return (profile with { BlockSize = blockSize, KvCapacityBlocks = (int)Math.Max(1, capacityTokens / blockSize) }).EnsureValid();
    }

    /// <summary>The runs simulated: the scenario's (or those named in <paramref name="only"/>), then the oracle (not in a scenario with faults, which it does not model).</summary>
    public IReadOnlyList<RunSpec> RunsToSimulate(IReadOnlyCollection<string>? only)
    {
        var runs = Scenario.Runs.Where(r => only is null || only.Count == 0 || only.Contains(r.Name)).ToList();
        if (!Scenario.Runs.Exists(r => r.Name == OracleName) && Scenario.Faults.Count == 0) // the oracle knows no faults
        {
            runs.Add(new RunSpec { Name = OracleName, Mode = DeploymentMode.Mesh, Policy = OracleName, Consistency = null });
        }

        return runs;
    }

    /// <summary>Simulates the runs, <paramref name="parallelism"/> at a time, and returns the summary (and records when the scenario keeps them).</summary>
    public SimulationResult Run(IReadOnlyCollection<string>? only, IProgress<BenchProgress>? progress, CancellationToken cancellationToken, int parallelism = 0)
    {
        var wall = Stopwatch.StartNew();
        RttMatrix rtt = ScenarioRtt.Build(Scenario);
        EngineProfile profile = ProfileOf(Scenario);
        IReadOnlyList<RunSpec> runs = RunsToSimulate(only);
        int total = WorkloadBuilder.ExpectedCount(Scenario);
        var results = new (RunSummary Summary, IReadOnlyList<RequestRecord>? Records, long Events, double VirtualMs, double WallSeconds)[runs.Count];
        int degree = parallelism > 0 ? parallelism : Math.Max(1, Environment.ProcessorCount);
        // Runs are taken one at a time, in order, by whichever worker is free (Parallel.For would hand out ranges of runs
        // up front, which can leave one worker with the last two long runs while the other idles).
        var order = Partitioner.Create(Enumerable.Range(0, runs.Count), EnumerablePartitionerOptions.NoBuffering);
        Parallel.ForEach(order, new ParallelOptions { MaxDegreeOfParallelism = degree, CancellationToken = cancellationToken }, i =>
        {
            RunSpec run = runs[i];
            long started = Stopwatch.GetTimestamp();
            RunKind kind = run.Policy == OracleName ? RunKind.Oracle : run.Mode == DeploymentMode.Proxy ? RunKind.Proxy : RunKind.Mesh;
            EngineProfile? truth = Scenario.LoadTrueProfile(run) is { } p ? Simulated(Scenario, p) : null;
            var sim = new SimRun(Scenario, run, kind, rtt, profile, Scenario.Sim.RequestsCsv, HandleDueEventsAtOnce, truth);
            progress?.Report(new BenchProgress(run.Name, "simulating", 0, total));
            RunSummary summary = sim.Run(WorkloadBuilder.Shapes(Scenario), done => progress?.Report(new BenchProgress(run.Name, "simulating", done, total)), cancellationToken);
            progress?.Report(new BenchProgress(run.Name, "done", summary.Requests, total));
            results[i] = (summary, sim.Records, sim.Events, sim.VirtualMs, Stopwatch.GetElapsedTime(started).TotalSeconds);
        });

        long events = results.Sum(r => r.Events);
        double seconds = wall.Elapsed.TotalSeconds;
        var summary = new BenchSummary
        {
            Scenario = Scenario.Name,
            Seed = Scenario.Seed,
            Simulated = true,
            Runs = results.Select(r => r.Summary).ToList(),
            WallSeconds = Math.Round(seconds, 3),
            Simulation = new SimulationStats
            {
                Events = events,
                EventsPerSecond = Math.Round(events / Math.Max(seconds, 1e-9)),
                Requests = results.Sum(r => (long)r.Summary.Requests),
                VirtualSeconds = Math.Round(results.Max(r => r.VirtualMs) / 1000, 3),
                ParallelRuns = Math.Min(degree, runs.Count),
                PeakMemoryMiB = Math.Round(Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024), 1),
                RunSeconds = runs.Select((r, i) => (r.Name, Seconds: Math.Round(results[i].WallSeconds, 1))).ToDictionary(x => x.Name, x => x.Seconds, StringComparer.Ordinal),
            },
        };
        List<RequestRecord>? records = Scenario.Sim.RequestsCsv ? results.SelectMany(r => r.Records ?? []).ToList() : null;
        return new SimulationResult(summary, records);
    }
}
