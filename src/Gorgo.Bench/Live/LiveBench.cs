using System.Diagnostics;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Workload;
using Gorgo.Mesh.Core;
using Gorgo.Routing.Fleet;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Live;

/// <summary>
/// <c>gorgo bench</c>: for each run of a scenario, starts its deployment (a mesh or the proxy, WAN emulation on),
/// replays the same workload open-loop at its arrival times from clients in their user regions, always streaming,
/// records every request at the client, stops the deployment; then writes the outputs.
/// </summary>
public sealed class LiveBench(Scenario scenario, Action<ILoggingBuilder> logging)
{
    /// <summary>Unrecorded requests each region sends before a run's replay.</summary>
    public const int WarmUpRequestsPerRegion = 8;

    /// <summary>Runs every run (or those named in <paramref name="only"/>) and returns the summary and every request's record.</summary>
    public async Task<(BenchSummary Summary, List<RequestRecord> Records)> RunAsync(IReadOnlyCollection<string>? only, IProgress<BenchProgress>? progress, CancellationToken cancellationToken)
    {
        var wall = Stopwatch.StartNew();
        IReadOnlyList<BenchRequest> workload = WorkloadBuilder.Build(scenario);
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

            cancellationToken.ThrowIfCancellationRequested();
            (List<RequestRecord> runRecords, bool runComplete, double? gossip) = await RunOneAsync(run, workload, rtt, progress, cancellationToken).ConfigureAwait(false);
            records.AddRange(runRecords);
            summaries.Add(RunSummary.From(run.Name, run.ModeName, run.Policy, run.ConsistencyName, run.ScopeName, runRecords) with { GossipBytesPerNodePerS = gossip });
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

    private async Task<(List<RequestRecord> Records, bool Complete, double? GossipBytesPerNodePerS)> RunOneAsync(RunSpec run, IReadOnlyList<BenchRequest> workload, RttMatrix rtt, IProgress<BenchProgress>? progress, CancellationToken cancellationToken)
    {
        progress?.Report(new BenchProgress(run.Name, "starting", 0, workload.Count));
        await using LiveDeployment deployment = run.Mode == DeploymentMode.Mesh
            ? await LiveDeployment.StartMeshAsync(scenario, run, rtt, logging, cancellationToken).ConfigureAwait(false)
            : await LiveDeployment.StartProxyAsync(scenario, run, rtt, logging, cancellationToken).ConfigureAwait(false);

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 100_000, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        var client = new LiveClient(http, scenario.Replicas.Model);
        byte[][] bodies = workload.Select(client.Body).ToArray();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(scenario.Limits.RunSeconds));
        TimeSpan timeout = TimeSpan.FromSeconds(scenario.Limits.RequestTimeoutSeconds);

        progress?.Report(new BenchProgress(run.Name, "warming up", 0, workload.Count));
        await WarmUpAsync(client, run.Name, deployment, timeout, limit.Token).ConfigureAwait(false);

        var tasks = new List<Task<RequestRecord>>(workload.Count);
        int finished = 0;
        (long Bytes, int Nodes)? gossipAtStart = deployment.GossipBytesSent;
        var clock = Stopwatch.StartNew();
        progress?.Report(new BenchProgress(run.Name, "replaying", 0, workload.Count));
        foreach (BenchRequest request in workload)
        {
            double wait = request.ArrivalMs - clock.Elapsed.TotalMilliseconds;
            if (wait > 1)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), limit.Token).ConfigureAwait(false);
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

            int index = request.Index;
            tasks.Add(client.SendAsync(run.Name, request, bodies[index], deployment.EntryPoints[request.UserRegion], timeout, limit.Token).ContinueWith(
                t =>
                {
                    progress?.Report(new BenchProgress(run.Name, "replaying", Interlocked.Increment(ref finished), workload.Count));
                    return t.Result;
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default));
        }

        RequestRecord[] sent = await Task.WhenAll(tasks).ConfigureAwait(false);
        double? gossip = GossipRate(gossipAtStart, deployment.GossipBytesSent, clock.Elapsed);
        bool complete = sent.Length == workload.Count && !limit.IsCancellationRequested;

        // Every request is accounted for: those never sent (stopped early) are failed with status 0.
        var records = sent.ToList();
        foreach (BenchRequest unsent in workload.Skip(sent.Length))
        {
            records.Add(new RequestRecord { Run = run.Name, Index = unsent.Index, UserRegion = unsent.UserRegion, ArrivalMs = unsent.ArrivalMs, PromptTokens = unsent.Prompt.Length, Error = "not sent: the run was stopped" });
        }

        progress?.Report(new BenchProgress(run.Name, "stopping", records.Count, workload.Count));
        return (records, complete, gossip);
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
                await client.SendAsync(run, request, client.Body(request), entry.Value, timeout, cancellationToken).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Gossip bytes sent per node per second over the replay (null for proxy runs), the figure the simulator reports too.</summary>
    private static double? GossipRate((long Bytes, int Nodes)? start, (long Bytes, int Nodes)? end, TimeSpan elapsed) =>
        start is { } s && end is { } e && e.Nodes > 0 && elapsed > TimeSpan.Zero
            ? Math.Round((e.Bytes - s.Bytes) / (double)e.Nodes / elapsed.TotalSeconds, 1)
            : null;
}
