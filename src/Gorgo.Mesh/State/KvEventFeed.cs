using Gorgo.Replica.KvEvents;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.State;

/// <summary>
/// One HTTP replica's KV events feeding this node's router: a subscriber to the engine, the exact view it keeps in the
/// router's block hashes, and the view's changes applied to the router as they come. Until the router knows the
/// replica (its first load report) changes are held in the view and handed over whole by <see cref="Sync"/>.
/// </summary>
public sealed class KvEventFeed : IDisposable
{
    private readonly Router _router;
    private readonly KvEventSubscriber _subscriber;
    private volatile bool _synced;
    private CacheViewKind _lastKind = CacheViewKind.Exact;

    /// <summary>Subscribes to <paramref name="options"/>'s endpoints for replica <paramref name="replicaId"/>.</summary>
    public KvEventFeed(string replicaId, KvEventsOptions options, Router router, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(replicaId);
        ReplicaId = replicaId;
        _router = router ?? throw new ArgumentNullException(nameof(router));
        View = new KvCacheView(new BlockHasher(router.Options.BlockSize), OnChanged);
        _subscriber = new KvEventSubscriber(options, View, logger);
        Endpoint = options.Endpoint;
    }

    /// <summary>The replica fed.</summary>
    public string ReplicaId { get; }

    /// <summary>The engine's PUB address.</summary>
    public string Endpoint { get; }

    /// <summary>The engine's cache in the router's block hashes.</summary>
    public KvCacheView View { get; }

    /// <summary>How the router knows the replica's cache now.</summary>
    public CacheViewKind Kind => View.Exact ? CacheViewKind.Exact : CacheViewKind.Approximate;

    /// <summary>What <c>/mesh/state</c> shows of the feed.</summary>
    public KvEventFeedState Describe() => new(
        ReplicaId,
        Endpoint,
        Kind.Name(),
        View.ApproximateReason,
        View.Count,
        _subscriber.LastSequence,
        _subscriber.Received,
        _subscriber.Gaps,
        _subscriber.Replayed,
        _subscriber.Lost);

    /// <summary>
    /// After a load report: tells the router whether the view is exact, and makes the router's blocks for the replica
    /// exactly the view's when it has just learnt the replica or the view has just become exact again (dropping what
    /// its decisions taught it meanwhile).
    /// </summary>
    public void Sync()
    {
        CacheViewKind kind = Kind;
        if (!_router.SetCacheView(ReplicaId, kind))
        {
            return;
        }

        if (!_synced || (kind == CacheViewKind.Exact && _lastKind != CacheViewKind.Exact))
        {
            _synced = true;
            View.Snapshot(hashes => _router.ReplaceCached(ReplicaId, hashes));
        }

        _lastKind = kind;
    }

    /// <inheritdoc />
    public void Dispose() => _subscriber.Dispose();

    private void OnChanged(IReadOnlyList<ulong> stored, IReadOnlyList<ulong> removed)
    {
        if (removed.Count > 0)
        {
            _router.RemoveCached(ReplicaId, removed is ulong[] r ? r : [.. removed]);
        }

        if (stored.Count > 0 && !_router.TryRecordCached(ReplicaId, stored is ulong[] s ? s : [.. stored]))
        {
            _synced = false;
        }
    }
}

/// <summary>A KV event feed as <c>/mesh/state</c> shows it.</summary>
/// <param name="Replica">The replica.</param>
/// <param name="Endpoint">The engine's PUB address.</param>
/// <param name="CacheView"><c>exact</c> or <c>approximate</c>.</param>
/// <param name="ApproximateReason">Why the view is approximate, or null.</param>
/// <param name="Blocks">Router blocks the engine holds.</param>
/// <param name="LastSequence">The last batch applied (-1 before any).</param>
/// <param name="Received">Batches received on the subscription.</param>
/// <param name="Gaps">Gaps in the sequence seen.</param>
/// <param name="Replayed">Batches recovered by replay.</param>
/// <param name="Lost">Times batches were lost for good.</param>
public sealed record KvEventFeedState(string Replica, string Endpoint, string CacheView, string? ApproximateReason, int Blocks, long LastSequence, long Received, long Gaps, long Replayed, long Lost);
