using System.Diagnostics;
using Gorgo.Mesh.Faults;
using Gorgo.Scenarios;
using Gorgo.Scenarios.Results;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Live;

/// <summary>
/// Injects a scenario's faults into a run's node processes at their times on the replay's clock, one after another,
/// and records when each took effect. Node faults act on the process; a partition or heal goes to both regions'
/// nodes (a side that is down is skipped); a replica fault goes to the replica's node.
/// </summary>
public sealed class FaultDriver(IReadOnlyList<FaultSpec> faults, NodeProcesses nodes, Func<string, string?> regionOfReplica, ILogger logger)
{
    /// <summary>How long a restarted node may take to become healthy.</summary>
    public static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<ExecutedFault> _executed = [];

    /// <summary>The faults executed so far, with when each began (ms on the replay's clock).</summary>
    public IReadOnlyList<ExecutedFault> Executed => _executed;

    /// <summary>
    /// Runs every fault at its time, one after another, until all are done or <paramref name="stopScheduling"/> fires
    /// (the replay ended): faults due by then still run (a restart that made later faults late lets them catch up),
    /// later ones do not. <paramref name="cancellationToken"/> (the run's limit) abandons everything.
    /// </summary>
    public async Task RunAsync(Stopwatch clock, CancellationToken stopScheduling, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clock);
        foreach (FaultSpec fault in faults.OrderBy(f => f.AtSeconds))
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

            _executed.Add(new ExecutedFault(fault, clock.Elapsed.TotalMilliseconds));
            logger.LogInformation("Fault {Fault} at {AtMs:F0} ms", fault, clock.Elapsed.TotalMilliseconds);
            await ApplyAsync(fault, cancellationToken).ConfigureAwait(false);
        }
    }

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
