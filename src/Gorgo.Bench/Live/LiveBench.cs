using System.Diagnostics;
using Gorgo.Engine.Model;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Workload;
using Gorgo.Mesh.Core;
using Gorgo.Routing.Fleet;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Live;

/// <summary>
/// <c>gorgo bench</c>: for each run of a scenario, starts its deployment (a mesh or the proxy, WAN emulation on),
/// sends the same workload from clients in their user regions, always streaming (open loop at its arrival times, or a
/// closed loop of <c>load.concurrency</c> clients), records every request at the client, stops the deployment; then
/// writes the outputs.
/// </summary>
public sealed class LiveBench(Scenario scenario, Action<ILoggingBuilder> logging)
{
    /// <summary>Unrecorded requests each region sends before a run's replay.</summary>
    public const int WarmUpRequestsPerRegion = 8;

    /// <summary>Runs every run (or those named in <paramref name="only"/>) and returns the summary and every request's record.</summary>
    public async Task<(BenchSummary Summary, List<RequestRecord> Records)> RunAsync(IReadOnlyCollection<string>? only, IProgress<BenchProgress>? progress, CancellationToken cancellationToken)
    {
        var wall = Stopwatch.StartNew();
        IEnumerable<BenchRequest> workload = WorkloadBuilder.Build(scenario);
        RttMatrix rtt = ScenarioRtt.Build(scenario);
        var summaries = new List<RunSummary>();
        var records = new List<RequestRecord>();
        bool complete = true;
        foreach (RunSpec run in scenario.Runs.Where(r => only is null || only.Count == 0 || only.Contains(r.Name)))
        {
            if (run.Policy == "oracle" || run.EffectiveConsistency == ConsistencyMode.Shared)
            {
                throw new ArgumentException($"Run '{run.Name}' uses the oracle policy or the shared consistency setting, which only the simulator (gorgo sim) can run.");
            }

            if (run.CacheView is not (null or CacheViewMode.Hybrid) && scenario.Faults.Count > 0)
            {
                throw new ArgumentException($"Run '{run.Name}': a live run with faults runs its replicas inside the node processes, so its cacheView must be hybrid.");
            }

            cancellationToken.ThrowIfCancellationRequested();
            (List<RequestRecord> runRecords, bool runComplete, double? gossip, IReadOnlyList<ExecutedFault> faults, long? failedOver) = await RunOneAsync(run, workload, rtt, progress, cancellationToken).ConfigureAwait(false);
            records.AddRange(runRecords);
            RunSummary runSummary = RunSummary.From(run.Name, run.ModeName, run.Policy, run.ConsistencyName, run.ScopeName, runRecords) with { GossipBytesPerNodePerS = gossip, GatewayFailedOver = failedOver };
            summaries.Add(FaultMetrics.Apply(runSummary, faults, runRecords, RegionOfReplica));
            complete &= runComplete;
            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        var summary = new BenchSummary
        {
            Scenario = scenario.Name,
            Seed = scenario.Seed,
            Simulated = false,
            Runs = summaries,
            WallSeconds = wall.Elapsed.TotalSeconds,
            Complete = complete && !cancellationToken.IsCancellationRequested,
        };
        return (summary, records);
    }

    /// <summary>The region of a scenario replica id, or null.</summary>
    private string? RegionOfReplica(string replicaId) => scenario.Regions.FirstOrDefault(r => scenario.ReplicaIds(r).Contains(replicaId));

    private async Task<(List<RequestRecord> Records, bool Complete, double? GossipBytesPerNodePerS, IReadOnlyList<ExecutedFault> Faults, long? GatewayFailedOver)> RunOneAsync(RunSpec run, IEnumerable<BenchRequest> workload, RttMatrix rtt, IProgress<BenchProgress>? progress, CancellationToken cancellationToken)
    {
        int total = WorkloadBuilder.ExpectedCount(scenario);
        progress?.Report(new BenchProgress(run.Name, "starting", 0, total));
        await using LiveDeployment deployment = run.Mode == DeploymentMode.Proxy
            ? await LiveDeployment.StartProxyAsync(scenario, run, rtt, logging, cancellationToken).ConfigureAwait(false)
            : scenario.Faults.Count > 0
                ? await LiveDeployment.StartMeshProcessesAsync(scenario, run, rtt, logging, cancellationToken).ConfigureAwait(false)
                : await LiveDeployment.StartMeshAsync(scenario, run, rtt, logging, cancellationToken).ConfigureAwait(false);

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 100_000, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        var client = new LiveClient(http, scenario.Replicas.Model);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(scenario.Limits.RunSeconds));
        var forecaster = new LiveForecaster(deployment.Engines, rtt);
        var send = new Sender(run.Name, client, deployment, forecaster, TimeSpan.FromSeconds(scenario.Limits.RequestTimeoutSeconds), total, progress);

        progress?.Report(new BenchProgress(run.Name, "warming up", 0, total));
        await WarmUpAsync(client, run.Name, deployment, send.Timeout, limit.Token).ConfigureAwait(false);

        (long Bytes, int Nodes)? gossipAtStart = deployment.GossipBytesSent;
        // An open loop's requests and bodies are built before the clock starts, so the first ones leave on time.
        List<BenchRequest>? openLoop = scenario.Traffic.ClosedLoop ? null : workload.ToList();
        byte[][]? bodies = openLoop?.Select(client.Body).ToArray();
        EngineRequest?[]? probes = openLoop?.Select((r, i) => forecaster.Probe(r, bodies![i])).ToArray();
        var clock = Stopwatch.StartNew();
        progress?.Report(new BenchProgress(run.Name, "replaying", 0, total));
        using var faultsDone = CancellationTokenSource.CreateLinkedTokenSource(limit.Token);
        using ILoggerFactory loggers = LoggerFactory.Create(logging);
        FaultDriver? faults = deployment.Processes is { } nodes ? new FaultDriver(scenario.Faults, nodes, RegionOfReplica, loggers.CreateLogger<FaultDriver>()) : null;
        Task faulting = faults?.RunAsync(clock, faultsDone.Token, limit.Token) ?? Task.CompletedTask;
        (List<RequestRecord> records, List<BenchRequest> unsent) = scenario.Traffic.ClosedLoop
            ? await ClosedLoopAsync(send, workload, clock, limit.Token).ConfigureAwait(false)
            : await OpenLoopAsync(send, openLoop!, bodies!, probes!, clock, limit.Token).ConfigureAwait(false);
        double? gossip = GossipRate(gossipAtStart, deployment.GossipBytesSent, clock.Elapsed);
        await faultsDone.CancelAsync().ConfigureAwait(false);
        try
        {
            await faulting.ConfigureAwait(false); // a fault that failed (a node that would not restart) fails the run
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            // The run hit its time limit in the middle of a fault.
        }

        bool complete = unsent.Count == 0 && !limit.IsCancellationRequested;

        // Every request is accounted for: those never sent (stopped early) are failed with status 0.
        foreach (BenchRequest request in unsent)
        {
            records.Add(new RequestRecord { Run = run.Name, Index = request.Index, UserRegion = request.UserRegion, ArrivalMs = request.ArrivalMs, PromptTokens = request.Prompt.Length, Error = "not sent: the run was stopped" });
        }

        records.Sort((a, b) => a.Index.CompareTo(b.Index));
        progress?.Report(new BenchProgress(run.Name, "stopping", records.Count, total));
        return (records, complete, gossip, faults?.Executed ?? [], deployment.GatewayFailedOver);
    }

    /// <summary>Sends each request at its arrival time, without waiting for earlier ones; returns the records and the requests not sent.</summary>
    private static async Task<(List<RequestRecord> Records, List<BenchRequest> Unsent)> OpenLoopAsync(Sender send, List<BenchRequest> workload, byte[][] bodies, EngineRequest?[] probes, Stopwatch clock, CancellationToken limit)
    {
        var tasks = new List<Task<RequestRecord>>(workload.Count);
        foreach (BenchRequest request in workload)
        {
            double wait = request.ArrivalMs - clock.Elapsed.TotalMilliseconds;
            if (wait > 1)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), limit).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            if (limit.IsCancellationRequested)
            {
                break;
            }

            tasks.Add(send.SendAsync(request, bodies[tasks.Count], probes[tasks.Count], limit));
        }

        RequestRecord[] sent = await Task.WhenAll(tasks).ConfigureAwait(false);
        return (sent.ToList(), workload.Skip(sent.Length).ToList());
    }

    /// <summary>
    /// <c>load.concurrency</c> clients, each sending the workload's next request (stamped with the time it leaves) when
    /// its last response has ended and its think time passed, until the workload, <c>load.durationSeconds</c> or the
    /// run's limit ends; returns the records and, when a limit stopped a workload bounded by count, the requests not sent.
    /// </summary>
    private async Task<(List<RequestRecord> Records, List<BenchRequest> Unsent)> ClosedLoopAsync(Sender send, IEnumerable<BenchRequest> workload, Stopwatch clock, CancellationToken limit)
    {
        LoadSpec load = scenario.Traffic;
        double endMs = load.DurationSeconds > 0 ? load.DurationSeconds * 1000 : double.PositiveInfinity;
        var gate = new Lock();
        var records = new List<RequestRecord>();
        using IEnumerator<BenchRequest> source = workload.GetEnumerator();

        async Task ClientAsync()
        {
            while (!limit.IsCancellationRequested && clock.Elapsed.TotalMilliseconds <= endMs)
            {
                BenchRequest request;
                lock (gate)
                {
                    if (!source.MoveNext())
                    {
                        return;
                    }

                    request = source.Current with { ArrivalMs = clock.Elapsed.TotalMilliseconds };
                }

                byte[] body = send.Client.Body(request);
                RequestRecord record = await send.SendAsync(request, body, send.Forecaster.Probe(request, body), limit).ConfigureAwait(false);
                lock (gate)
                {
                    records.Add(record);
                }

                if (load.ThinkMs > 0)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(load.ThinkMs), limit).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, load.Concurrency).Select(_ => Task.Run(ClientAsync, CancellationToken.None))).ConfigureAwait(false);
        var unsent = new List<BenchRequest>();
        if (load.Count > 0 && limit.IsCancellationRequested)
        {
            while (source.MoveNext())
            {
                unsent.Add(source.Current);
            }
        }

        return (records, unsent);
    }

    /// <summary>
    /// Sends <see cref="WarmUpRequestsPerRegion"/> unrecorded requests from every region before the replay, so the run
    /// does not measure the JIT, connection and first-use costs a deployment in service has long paid. Their prompts are
    /// shorter than a KV block, so they leave nothing in any prefix cache.
    /// </summary>
    private static async Task WarmUpAsync(LiveClient client, string run, LiveDeployment deployment, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await Task.WhenAll(deployment.EntryPoints.Select(async entry =>
        {
            for (int i = 0; i < WarmUpRequestsPerRegion; i++)
            {
                var request = new BenchRequest(-1 - i, 0, entry.Key, [100 + i, 200, 300, 400], 1);
                await client.SendAsync(run, request, client.Body(request), [entry.Value[0]], timeout, cancellationToken).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Gossip bytes sent per node per second over the replay (null for proxy runs), the figure the simulator reports too.</summary>
    private static double? GossipRate((long Bytes, int Nodes)? start, (long Bytes, int Nodes)? end, TimeSpan elapsed) =>
        start is { } s && end is { } e && e.Nodes > 0 && elapsed > TimeSpan.Zero
            ? Math.Round((e.Bytes - s.Bytes) / (double)e.Nodes / elapsed.TotalSeconds, 1)
            : null;

    /// <summary>What sending one request of a run needs: the client, the deployment's entry points, the outcome forecasts, the timeout and progress.</summary>
    private sealed class Sender(string run, LiveClient client, LiveDeployment deployment, LiveForecaster forecaster, TimeSpan timeout, int total, IProgress<BenchProgress>? progress)
    {
        private int _finished;

        public LiveClient Client { get; } = client;

        public LiveForecaster Forecaster { get; } = forecaster;

        public TimeSpan Timeout { get; } = timeout;

        /// <summary>Forecasts the request's outcomes (when <paramref name="probe"/> is given), sends it from its user's region and reports progress when it ends.</summary>
        public async Task<RequestRecord> SendAsync(BenchRequest request, byte[] body, EngineRequest? probe, CancellationToken cancellationToken)
        {
            (double? best, double? bestHome) = probe is null ? (null, null) : Forecaster.Forecast(request.UserRegion, probe);
            RequestRecord record = await Client.SendAsync(run, request, body, deployment.EntryPoints[request.UserRegion], Timeout, cancellationToken).ConfigureAwait(false);
            record = record with { BestForecastTtftMs = best, BestHomeForecastTtftMs = bestHome };
            progress?.Report(new BenchProgress(run, "replaying", Interlocked.Increment(ref _finished), total));
            return record;
        }
    }
}
