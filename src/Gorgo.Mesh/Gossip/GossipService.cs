using System.Diagnostics;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Grains;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.Gossip;

/// <summary>
/// Drives a node's <see cref="RegionNode"/> in real time over Orleans: every gossip interval it swaps digests with
/// the peers the node chooses among the live regions (push its own, pull what it lacks, which also relays third
/// regions' digests) and lets the node forget regions gone quiet; every probe interval it times a call to each peer
/// region for the node's RTT estimates; under <c>sync</c> it carries the node's queries.
/// </summary>
public sealed class GossipService(RegionState state, IGrainFactory grains, IClusterMembershipService membership, ILogger<GossipService> logger) : BackgroundService
{
    private readonly Random _random = new();
    private readonly Lock _randomGate = new();

    private RegionNode Node => state.Node;

    /// <summary>Regions with a live node other than this one, among the nearest this node follows.</summary>
    public IReadOnlyList<string> LivePeers() => Node.GossipPeers(membership.CurrentSnapshot.Members.Values
        .Where(m => m.Status == SiloStatus.Active)
        .Select(m => MeshKeys.RegionOfSilo(m.Name))
        .OfType<string>());

    /// <summary>One gossip round: exchange with up to <c>fanout</c> random live peers, then expire stale regions.</summary>
    public async Task GossipOnceAsync(CancellationToken cancellationToken)
    {
        string[] chosen;
        lock (_randomGate)
        {
            chosen = Node.ChoosePeers([.. LivePeers()], _random).ToArray();
        }

        if (chosen.Length > 0)
        {
            await Task.WhenAll(chosen.Select(peer => ExchangeAsync(peer, state.MakeGossip(peer), cancellationToken))).ConfigureAwait(false); // each peer gets what it lacks
        }

        foreach (string origin in state.OnRoundEnd())
        {
            logger.LogInformation("Forgot region {Origin}: no fresh digest for {TimeoutMs} ms", origin, Node.Options.Gossip.EffectiveOriginTimeoutMs);
        }
    }

    /// <summary>Sends this node's digest to every live peer now, not just a round's fanout: how a draining node tells the mesh at once.</summary>
    public async Task AnnounceAsync(CancellationToken cancellationToken)
    {
        string[] peers = [.. LivePeers()];
        if (peers.Length > 0)
        {
            await Task.WhenAll(peers.Select(peer => ExchangeAsync(peer, state.MakeGossip(peer), cancellationToken))).ConfigureAwait(false);
        }
    }

    /// <summary>One probe round: time a call to every live peer region.</summary>
    public Task ProbeOnceAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(LivePeers().Select(peer => ProbeAsync(peer, cancellationToken)));

    /// <summary>Queries every live peer region's exact state now and merges it (the <c>sync</c> setting, before each decision).</summary>
    public async Task SyncAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> peers = LivePeers().Where(Node.IsReachable).ToArray(); // probes tell when the others are back
        state.Stats.SyncQueried(peers.Count);
        await Task.WhenAll(peers.Select(async peer =>
        {
            try
            {
                byte[] bytes = await grains.GetGrain<IRegionGrain>(MeshKeys.Region(peer)).GetExactState(Node.Region).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                state.OnSyncAnswer(bytes);
                state.RecordCall(peer, succeeded: true);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                state.RecordCall(peer, succeeded: false);
                logger.LogDebug(ex, "Exact-state query to {Peer} failed", peer);
            }
        })).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        RunEvery(TimeSpan.FromMilliseconds(state.Options.Gossip.IntervalMs), GossipOnceAsync, stoppingToken),
        RunEvery(TimeSpan.FromMilliseconds(state.Options.Probes.IntervalMs), ProbeOnceAsync, stoppingToken),
        WatchMembershipAsync(stoppingToken));

    /// <summary>Regions whose every silo the cluster declares dead are forgotten at once, not when their digests time out.</summary>
    private async Task WatchMembershipAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (ClusterMembershipSnapshot snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken).ConfigureAwait(false))
            {
                foreach (string region in DeadRegions(snapshot))
                {
                    if (Node.MarkDown(region))
                    {
                        logger.LogWarning("The node of region {Region} is dead: its replicas are out of routing until it returns", region);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private string[] DeadRegions(ClusterMembershipSnapshot snapshot)
    {
        var alive = new HashSet<string>(StringComparer.Ordinal);
        var dead = new HashSet<string>(StringComparer.Ordinal);
        foreach (ClusterMember member in snapshot.Members.Values)
        {
            if (MeshKeys.RegionOfSilo(member.Name) is { } region && region != state.Region)
            {
                (member.Status == SiloStatus.Dead ? dead : alive).Add(region);
            }
        }

        dead.ExceptWith(alive);
        return [.. dead];
    }

    private async Task RunEvery(TimeSpan interval, Func<CancellationToken, Task> round, CancellationToken stoppingToken)
    {
        try
        {
            // Spread the nodes' rounds so they do not all gossip at the same instant.
            await Task.Delay(TimeSpan.FromMilliseconds(_random.Next((int)interval.TotalMilliseconds)), stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(interval);
            do
            {
                try
                {
                    await round(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Background mesh round failed");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: end quietly.
        }
    }

    private async Task ExchangeAsync(string peer, byte[] gossip, CancellationToken cancellationToken)
    {
        try
        {
            byte[] reply = await grains.GetGrain<IRegionGrain>(MeshKeys.Region(peer)).Exchange(gossip).WaitAsync(ExchangeTimeout(peer), cancellationToken).ConfigureAwait(false);
            state.OnGossipReply(reply);
            state.Stats.Exchanged(ok: true);
            state.RecordCall(peer, succeeded: true);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            state.Stats.Exchanged(ok: false);
            state.RecordCall(peer, succeeded: false);
            logger.LogDebug(ex, "Gossip exchange with {Peer} failed", peer);
        }
    }

    private async Task ProbeAsync(string peer, CancellationToken cancellationToken)
    {
        try
        {
            long start = Stopwatch.GetTimestamp();
            await grains.GetGrain<IRegionGrain>(MeshKeys.Region(peer)).Ping().WaitAsync(ExchangeTimeout(peer), cancellationToken).ConfigureAwait(false);
            Node.RecordRtt(peer, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            state.RecordCall(peer, succeeded: true);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            state.RecordCall(peer, succeeded: false);
            logger.LogDebug(ex, "RTT probe to {Peer} failed", peer);
        }
    }

    /// <summary>A call to a peer gives up after a second plus twice the configured RTT.</summary>
    private TimeSpan ExchangeTimeout(string peer) => TimeSpan.FromMilliseconds(1_000 + (2 * state.ConfiguredRtt.Get(state.Region, peer)));
}
