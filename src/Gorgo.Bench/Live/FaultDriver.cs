using System.Diagnostics;
using Gorgo.Mesh.Faults;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Live;

/// <summary>
/// Injects a scenario's faults into a run's node processes at their times on the replay's clock, and records when each
/// took effect. Faults on different regions run independently (a slow restart of one node does not delay a fault on
/// another); faults on the same region run one after another. Node faults act on the process; a partition or heal goes
/// to both regions' nodes (a side that is down is skipped); a replica fault goes to the replica's node.
/// </summary>
public sealed class FaultDriver(IReadOnlyList<FaultSpec> faults, NodeProcesses nodes, Func<string, string?> regionOfReplica, ILogger logger)
{
    /// <summary>How long a restarted node may take to become healthy.</summary>
    public static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<ExecutedFault> _executed = [];

    /// <summary>The faults executed so far, in the order they began (ms on the replay's clock).</summary>
    public IReadOnlyList<ExecutedFault> Executed
    {
        get
        {
            lock (_executed)
            {
                return [.. _executed.OrderBy(f => f.AtMs)];
            }
        }
    }

    /// <summary>
    /// Runs every fault at its time (after the earlier faults on the same regions) until all are done or
    /// <paramref name="stopScheduling"/> fires (the replay ended): faults due by then still run, later ones do not.
    /// <paramref name="cancellationToken"/> (the run's limit) abandons everything. A fault that fails fails the run.
    /// </summary>
    public async Task RunAsync(Stopwatch clock, CancellationToken stopScheduling, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var lanes = new Dictionary<string, Task>(StringComparer.Ordinal);
        var all = new List<Task>();
        foreach (FaultSpec fault in faults.OrderBy(f => f.AtSeconds))
        {
            string[] regions = RegionsOf(fault);
            Task[] before = [.. regions.Where(lanes.ContainsKey).Select(r => lanes[r]).Distinct()];
            Task run = RunOneAsync(fault, before, clock, stopScheduling, cancellationToken);
            foreach (string region in regions)
            {
                lanes[region] = run;
            }

            all.Add(run);
        }

        await Task.WhenAll(all).ConfigureAwait(false);
    }

    private async Task RunOneAsync(FaultSpec fault, Task[] before, Stopwatch clock, CancellationToken stopScheduling, CancellationToken cancellationToken)
    {
        double wait = (fault.AtSeconds * 1000) - clock.Elapsed.TotalMilliseconds;
        if (wait > 0)
        {
            if (stopScheduling.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait), stopScheduling).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopScheduling.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }

        await Task.WhenAll(before).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        double at = clock.Elapsed.TotalMilliseconds;
        lock (_executed)
        {
            _executed.Add(new ExecutedFault(fault, at));
        }

        logger.LogInformation("Fault {Fault} at {AtMs:F0} ms", fault, at);
        await ApplyAsync(fault, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The regions a fault acts on: its node's, both sides of a partition, or its replica's.</summary>
    private string[] RegionsOf(FaultSpec fault) => fault.Kind switch
    {
        FaultKind.KillNode or FaultKind.StopNode or FaultKind.RestartNode => [fault.Target],
        FaultKind.Partition or FaultKind.Heal => [fault.Target, fault.Peer!],
        _ => [regionOfReplica(fault.Target) ?? throw new InvalidOperationException($"Replica '{fault.Target}' has no region.")],
    };

    private async Task ApplyAsync(FaultSpec fault, CancellationToken cancellationToken)
    {
        switch (fault.Kind)
        {
            case FaultKind.KillNode:
                nodes.Kill(fault.Target);
                break;
            case FaultKind.StopNode:
                await nodes.TerminateAsync(fault.Target).ConfigureAwait(false);
                break;
            case FaultKind.RestartNode:
                await nodes.StartNodeAsync(fault.Target, RestartTimeout, cancellationToken).ConfigureAwait(false);
                break;
            case FaultKind.Partition or FaultKind.Heal:
                string kind = fault.Kind == FaultKind.Partition ? "partition" : "heal";
                await InjectIfUpAsync(fault.Target, new NodeFaultRequest { Kind = kind, Target = fault.Peer! }, cancellationToken).ConfigureAwait(false);
                await InjectIfUpAsync(fault.Peer!, new NodeFaultRequest { Kind = kind, Target = fault.Target }, cancellationToken).ConfigureAwait(false);
                break;
            default:
                string region = regionOfReplica(fault.Target) ?? throw new InvalidOperationException($"Replica '{fault.Target}' has no region.");
                await InjectIfUpAsync(region, new NodeFaultRequest { Kind = fault.KindName, Target = fault.Target, Factor = fault.Factor }, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private async Task InjectIfUpAsync(string region, NodeFaultRequest fault, CancellationToken cancellationToken)
    {
        if (!nodes.IsRunning(region))
        {
            logger.LogWarning("Fault {Kind} {Target} skipped on {Region}: its node is down", fault.Kind, fault.Target, region);
            return;
        }

        await nodes.InjectAsync(region, fault, cancellationToken).ConfigureAwait(false);
    }
}
