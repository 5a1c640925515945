using Gorgo.Engine.Model;
using Gorgo.Mesh.Options;
using Gorgo.Mesh.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.State;

/// <summary>
/// One node's view of the mesh: its local replicas (exact), the latest digest from every other region (gossip),
/// RTT estimates, and the <see cref="Router"/> that decides on all of it. Requests read the router directly, so
/// routing never waits on a grain turn; the region grain only carries gossip in and out.
/// </summary>
public sealed class RegionState : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StoredDigest> _remote = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _rttEstimates = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<Task> _pumps = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly PrefixMergeMode _summaryMerge;
    private long _version;

    /// <summary>Creates the state of the node of <paramref name="region"/> and starts its local replicas.</summary>
    public RegionState(MeshOptions options, string region, ILoggerFactory loggers, TimeProvider? time = null)
    {
        Options = options.EnsureValid(region);
        Region = region;
        _logger = loggers.CreateLogger<RegionState>();
        _time = time ?? TimeProvider.System;
        ConfiguredRtt = options.BuildRtt();
        Incarnation = _time.GetUtcNow().ToUnixTimeMilliseconds();
        PrefixMergeModes.TryParse(options.Gossip.SummaryMerge, out _summaryMerge);
        Router = new Router(
            new RouterOptions { Region = region, Policy = options.Policy, Cost = options.Cost, MaxStateAgeMs = options.MaxStateAgeMs, NearestRegions = options.NearestRegions },
            ConfiguredRtt,
            _time);
        Local = options.Replicas
            .Where(r => r.Region == region)
            .Select(r => State.LocalReplica.Create(r, TimeSpan.FromMilliseconds(options.LoadReportIntervalMs), loggers))
            .ToDictionary(r => r.Id, StringComparer.Ordinal);
        foreach (LocalReplica replica in Local.Values)
        {
            replica.Monitor.Updated += _ => PublishLocal(replica);
            if (replica.Engine is { } engine)
            {
                var events = engine.SubscribeCacheEvents();
                _pumps.Add(Task.Run(() => PumpCacheEventsAsync(replica.Id, events, _stop.Token)));
            }

            replica.Monitor.Start();
        }
    }

    /// <summary>The configuration.</summary>
    public MeshOptions Options { get; }

    /// <summary>This node's region.</summary>
    public string Region { get; }

    /// <summary>The configured RTT matrix (the WAN emulation's ground truth and the router's starting estimates).</summary>
    public RttMatrix ConfiguredRtt { get; }

    /// <summary>When this node started (Unix ms); versions its digests.</summary>
    public long Incarnation { get; }

    /// <summary>The router deciding for this node.</summary>
    public Router Router { get; }

    /// <summary>This region's replicas by id.</summary>
    public IReadOnlyDictionary<string, LocalReplica> Local { get; }

    /// <summary>Counters.</summary>
    public MeshStats Stats { get; } = new();

    /// <summary>This node's consistency setting: <c>local-only</c>, <c>gossip</c> or <c>sync</c>.</summary>
    public string Consistency => Options.ConsistencyOf(Region);

    /// <summary>Whether digests carry load and prefix summaries (not under <c>local-only</c>).</summary>
    public bool SharesState => Consistency != "local-only";

    /// <summary>Now, Unix ms.</summary>
    public long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Whether this node gossips with, keeps state from and routes to <paramref name="region"/>: one of its
    /// <see cref="MeshOptions.NearestRegions"/> nearest (every region when that is 0).
    /// </summary>
    public bool Interested(string region) => ConfiguredRtt.IsNear(Region, region, Options.NearestRegions);

    /// <summary>The backend of a local replica, or null when the replica is not served by this node.</summary>
    public LocalReplica? FindLocal(string id) => Local.GetValueOrDefault(id);

    /// <summary>Makes a new digest of this region: every local replica's load and its hottest blocks within the byte budget.</summary>
    public Digest MakeDigest()
    {
        long now = NowMs;
        ReplicaView?[] views = Local.Values.Select(r => r.CurrentView(Region)).ToArray();
        int hashBudget = SharesState ? DigestBudget.HashesPerReplica(Options.Gossip.DigestBudgetBytes, Local.Count) : 0;
        var replicas = new List<ReplicaDigest>(Local.Count);
        int i = 0;
        foreach (LocalReplica replica in Local.Values)
        {
            ReplicaView? view = views[i++];
            if (view is null)
            {
                continue;
            }

            replicas.Add(new ReplicaDigest
            {
                Id = view.Id,
                Model = view.Model,
                Health = (int)view.Health,
                Running = SharesState ? view.RunningRequests : 0,
                Queued = SharesState ? view.QueuedRequests : 0,
                RunningTokens = SharesState ? view.RunningTokens : 0,
                RunningPrefillTokens = SharesState ? view.RunningPrefillTokens ?? -1 : -1,
                QueuedTokens = SharesState ? view.QueuedTokens : 0,
                KvUtilization = SharesState ? view.KvCacheUtilization : 0,
                PrefillMsPerToken = view.PrefillMsPerToken,
                MaxRunning = view.MaxRunningRequests,
                MaxQueued = view.MaxQueuedRequests,
                MaxContextTokens = view.MaxContextTokens,
                AgeMs = Math.Max(0, now - view.TakenAtMs),
                HotBlocks = SharesState ? ReplicaDigest.Pack(Router.Summarize(view.Id, hashBudget).Hashes) : null,
            });
        }

        return new Digest { Origin = Region, Incarnation = Incarnation, Version = Interlocked.Increment(ref _version), CreatedAtUnixMs = now, Replicas = [.. replicas] };
    }

    /// <summary>The gossip message this node sends: its fresh digest and the versions of everything it holds.</summary>
    public byte[] MakeGossip()
    {
        Digest own = MakeDigest();
        Stats.DigestMade(GossipCodec.Encode(own).Length);
        byte[] bytes = GossipCodec.Encode(new GossipMessage { Digests = [own], Known = Known() });
        Stats.Sent(bytes.Length);
        return bytes;
    }

    /// <summary>Handles a peer's gossip: merges its digests and replies with this node's digest and every digest the peer lacks.</summary>
    public byte[] HandleGossip(byte[] request)
    {
        Stats.Received(request.Length);
        GossipMessage message = GossipCodec.Decode<GossipMessage>(request);
        foreach (Digest digest in message.Digests)
        {
            Merge(digest);
        }

        var reply = new List<Digest> { MakeDigest() };
        string? requester = message.Digests.Length > 0 ? message.Digests[0].Origin : null;
        lock (_gate)
        {
            foreach (StoredDigest stored in _remote.Values)
            {
                // Only what the requester routes on: its nearest regions.
                if (requester is not null && ConfiguredRtt.Contains(requester) && !ConfiguredRtt.IsNear(requester, stored.Digest.Origin, Options.NearestRegions))
                {
                    continue;
                }

                // Everything the peer lacks, except its own digests (it just sent them).
                if (Array.Exists(message.Digests, d => d.Origin == stored.Digest.Origin))
                {
                    continue;
                }

                if (!message.Known.TryGetValue(stored.Digest.Origin, out long[]? known) || known.Length < 2 || stored.Digest.IsNewerThan(known[0], known[1]))
                {
                    reply.Add(stored.Digest);
                }
            }
        }

        byte[] bytes = GossipCodec.Encode(new GossipMessage { Digests = [.. reply], Known = Known() });
        Stats.Sent(bytes.Length);
        return bytes;
    }

    /// <summary>Merges a peer's reply to this node's gossip.</summary>
    public void HandleGossipReply(byte[] reply)
    {
        Stats.Received(reply.Length);
        foreach (Digest digest in GossipCodec.Decode<GossipMessage>(reply).Digests)
        {
            Merge(digest);
        }
    }

    /// <summary>Applies a digest when it is newer than what this node holds from its origin; returns whether it was applied.</summary>
    public bool Merge(Digest digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        if (digest.Origin == Region || !ConfiguredRtt.Contains(digest.Origin) || !Interested(digest.Origin))
        {
            return false;
        }

        long now = NowMs;
        HashSet<string> previousIds;
        lock (_gate)
        {
            if (_remote.TryGetValue(digest.Origin, out StoredDigest? stored) && !digest.IsNewerThan(stored.Digest.Incarnation, stored.Digest.Version))
            {
                return false;
            }

            previousIds = stored?.Digest.Replicas.Select(r => r.Id).ToHashSet(StringComparer.Ordinal) ?? [];
            _remote[digest.Origin] = new StoredDigest(digest, now);
        }

        long createdAgo = Math.Max(0, now - digest.CreatedAtUnixMs);
        foreach (ReplicaDigest r in digest.Replicas)
        {
            previousIds.Remove(r.Id);
            try
            {
                Router.Upsert(new ReplicaView
                {
                    Id = r.Id,
                    Region = digest.Origin,
                    Model = r.Model,
                    Health = (ReplicaHealth)r.Health,
                    RunningRequests = r.Running,
                    QueuedRequests = r.Queued,
                    RunningTokens = r.RunningTokens,
                    RunningPrefillTokens = r.RunningPrefillTokens >= 0 ? r.RunningPrefillTokens : null,
                    QueuedTokens = r.QueuedTokens,
                    KvCacheUtilization = r.KvUtilization,
                    PrefillMsPerToken = r.PrefillMsPerToken,
                    MaxRunningRequests = r.MaxRunning,
                    MaxQueuedRequests = r.MaxQueued,
                    MaxContextTokens = r.MaxContextTokens,
                    TakenAtMs = now - createdAgo - r.AgeMs,
                });
                if (r.HotBlocks is not null)
                {
                    Router.ApplySummary(new PrefixSummary(r.Id, r.UnpackHotBlocks()), _summaryMerge);
                }
            }
            catch (ArgumentException ex)
            {
                _logger.LogWarning("Ignoring replica {Replica} in the digest from {Origin}: {Reason}", r.Id, digest.Origin, ex.Message);
            }
        }

        foreach (string gone in previousIds)
        {
            Router.Remove(gone);
        }

        return true;
    }

    /// <summary>Forgets regions whose newest digest is older than the origin timeout; returns the regions forgotten.</summary>
    public IReadOnlyList<string> ExpireStale()
    {
        long now = NowMs;
        List<StoredDigest> expired;
        lock (_gate)
        {
            expired = _remote.Values.Where(s => now - s.Digest.CreatedAtUnixMs > Options.Gossip.OriginTimeoutMs).ToList();
            foreach (StoredDigest s in expired)
            {
                _remote.Remove(s.Digest.Origin);
            }
        }

        foreach (StoredDigest s in expired)
        {
            foreach (ReplicaDigest r in s.Digest.Replicas)
            {
                Router.Remove(r.Id);
            }

            _logger.LogInformation("Forgot region {Origin}: no digest for {AgeMs} ms", s.Digest.Origin, now - s.Digest.CreatedAtUnixMs);
        }

        return expired.Select(s => s.Digest.Origin).ToArray();
    }

    /// <summary>Folds an RTT probe to <paramref name="peer"/> into its EWMA and the router's matrix.</summary>
    public double RecordRtt(string peer, double sampleMs)
    {
        if (!ConfiguredRtt.Contains(peer) || !double.IsFinite(sampleMs) || sampleMs < 0)
        {
            return double.NaN;
        }

        double smoothed;
        lock (_gate)
        {
            smoothed = _rttEstimates.TryGetValue(peer, out double previous)
                ? (Options.Probes.Smoothing * sampleMs) + ((1 - Options.Probes.Smoothing) * previous)
                : sampleMs;
            _rttEstimates[peer] = smoothed;
            Router.UpdateRtt(Router.Rtt.With(Region, peer, smoothed).With(peer, Region, smoothed));
        }

        return smoothed;
    }

    /// <summary>A description of this node's view, for <c>/mesh/state</c>: remote regions with versions and ages, RTTs, counters.</summary>
    public object Describe()
    {
        long now = NowMs;
        lock (_gate)
        {
            return new
            {
                Region,
                Incarnation,
                DigestVersion = Interlocked.Read(ref _version),
                Consistency,
                LocalReplicas = Local.Keys.Order(StringComparer.Ordinal).ToArray(),
                Remote = _remote.Values.OrderBy(s => s.Digest.Origin, StringComparer.Ordinal).Select(s => new
                {
                    s.Digest.Origin,
                    s.Digest.Version,
                    AgeMs = now - s.Digest.CreatedAtUnixMs,
                    Replicas = s.Digest.Replicas.Select(r => new { r.Id, r.Model, StateAgeMs = now - s.Digest.CreatedAtUnixMs + r.AgeMs, HotBlocks = (r.HotBlocks?.Length ?? 0) / sizeof(ulong) }),
                }).ToArray(),
                RttMs = Router.Rtt.Regions.ToDictionary(r => r, r => Router.Rtt.Get(Region, r)),
                Stats = new
                {
                    Stats.DigestsMade,
                    Stats.LastDigestBytes,
                    Stats.GossipBytesSent,
                    Stats.GossipBytesReceived,
                    Stats.Exchanges,
                    Stats.ExchangeFailures,
                    Stats.SyncQueries,
                    Stats.Decisions,
                    Stats.CrossRegionDecisions,
                },
            };
        }
    }

    /// <summary>Regions this node holds a digest from.</summary>
    public IReadOnlyList<string> KnownRegions()
    {
        lock (_gate)
        {
            return _remote.Keys.Order(StringComparer.Ordinal).ToArray();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (LocalReplica replica in Local.Values)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_pumps).ConfigureAwait(false);
        _stop.Dispose();
    }

    private Dictionary<string, long[]> Known()
    {
        lock (_gate)
        {
            return _remote.Values.ToDictionary(s => s.Digest.Origin, s => new[] { s.Digest.Incarnation, s.Digest.Version }, StringComparer.Ordinal);
        }
    }

    private void PublishLocal(LocalReplica replica)
    {
        if (replica.CurrentView(Region) is { } view)
        {
            Router.Upsert(view);
        }
    }

    private async Task PumpCacheEventsAsync(string replicaId, System.Threading.Channels.ChannelReader<CacheEvent> events, CancellationToken stop)
    {
        var stored = new List<ulong>();
        var removed = new List<ulong>();
        try
        {
            while (await events.WaitToReadAsync(stop).ConfigureAwait(false))
            {
                while (events.TryRead(out CacheEvent e))
                {
                    (e.Kind == CacheEventKind.Stored ? stored : removed).Add(e.BlockHash);
                }

                if (removed.Count > 0)
                {
                    Router.RemoveCached(replicaId, removed.ToArray());
                }

                if (stored.Count > 0)
                {
                    try
                    {
                        Router.RecordCached(replicaId, stored.ToArray());
                    }
                    catch (ArgumentException)
                    {
                        // The replica's first load report has not reached the router yet; the next routed prompts teach it.
                    }
                }

                stored.Clear();
                removed.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record StoredDigest(Digest Digest, long ReceivedAtMs);
}
