using System.Buffers;
using Gorgo.Mesh.Core.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using MessagePack;

namespace Gorgo.Mesh.Core;

/// <summary>
/// One region's mesh node as a clockless state machine: it holds its local replicas' latest load, the newest digest
/// from every other region it follows and its RTT estimates, and feeds all of it to the node's <see cref="Router"/>.
/// Drivers move its bytes and pass time in: Orleans grains and timers live (<c>Gorgo.Mesh</c>), the event loop in
/// virtual time (<c>Gorgo.Simulator</c>), so both run this one implementation of digests, merging, expiry, gossip
/// peers, sync queries and <c>local-only</c>.
/// </summary>
/// <remarks>
/// Thread-safe: a live node is called from gossip, probes, load reports and cache events at once. Every change to
/// the node's state and the router updates it implies happen under one lock, so digests of one origin are applied
/// in order; routing decisions read the router and never take this lock.
/// </remarks>
public sealed class RegionNode
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StoredDigest> _remote = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _down = new(StringComparer.Ordinal); // regions declared dead: the incarnation to ignore
    private readonly Dictionary<string, double> _rttEstimates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failedCalls = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unreachable = new(StringComparer.Ordinal);
    private readonly string[] _localIds;
    private readonly ReplicaView?[] _localViews;
    private readonly Dictionary<string, int> _localIndex = new(StringComparer.Ordinal);
    private readonly int _hashesPerReplica;
    private readonly DigestDecoder _decoder;
    private readonly ulong[] _hot; // one replica's hottest blocks while a digest is written
    private long _version;

    /// <summary>Creates the node; <paramref name="localReplicas"/> lists its region's replicas in the order its digests carry them.</summary>
    /// <exception cref="ArgumentException">The router or RTT matrix is for another region, or a replica id is repeated.</exception>
    /// <param name="options">The node's settings.</param>
    /// <param name="router">The router the node feeds (of its region).</param>
    /// <param name="configuredRtt">The configured RTTs.</param>
    /// <param name="incarnation">When the node started.</param>
    /// <param name="localReplicas">The region's replicas, in digest order.</param>
    /// <param name="decoder">How received digests are decoded (default: each on its own; the simulator shares one among its nodes).</param>
    public RegionNode(RegionNodeOptions options, Router router, RttMatrix configuredRtt, long incarnation, IReadOnlyList<string> localReplicas, DigestDecoder? decoder = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(configuredRtt);
        ArgumentNullException.ThrowIfNull(localReplicas);
        if (router.Region != options.Region || !configuredRtt.Contains(options.Region))
        {
            throw new ArgumentException($"The node of '{options.Region}' needs a router of its region and an RTT matrix that contains it.", nameof(router));
        }

        Options = options;
        Router = router;
        ConfiguredRtt = configuredRtt;
        Incarnation = incarnation;
        _decoder = decoder ?? new DigestDecoder();
        _localIds = [.. localReplicas];
        _localViews = new ReplicaView?[_localIds.Length];
        for (int i = 0; i < _localIds.Length; i++)
        {
            if (!_localIndex.TryAdd(_localIds[i], i))
            {
                throw new ArgumentException($"Replica '{_localIds[i]}' is listed twice.", nameof(localReplicas));
            }
        }

        _hashesPerReplica = SharesState ? DigestBudget.HashesPerReplica(options.Gossip.DigestBudgetBytes, Math.Max(1, _localIds.Length)) : 0;
        _hot = new ulong[_hashesPerReplica];
    }

    /// <summary>Raised (under the node's lock) for input the node ignores, e.g. a replica in a peer's digest the router refuses.</summary>
    public event Action<string>? Warning;

    /// <summary>The node's settings.</summary>
    public RegionNodeOptions Options { get; }

    /// <summary>This node's region.</summary>
    public string Region => Options.Region;

    /// <summary>The router this node feeds.</summary>
    public Router Router { get; }

    /// <summary>The configured RTT matrix (the router's starting estimates).</summary>
    public RttMatrix ConfiguredRtt { get; }

    /// <summary>When this node started (Unix ms live): a restarted node's digests win over its previous life's whatever their version.</summary>
    public long Incarnation { get; }

    /// <summary>The node's consistency setting.</summary>
    public ConsistencyMode Consistency => Options.Consistency;

    /// <summary>Whether its digests carry load and prefix summaries (not under <c>local-only</c>).</summary>
    public bool SharesState => Options.Consistency.SharesState();

    /// <summary>The scope this node's decisions use: the configured one, else the consistency setting's.</summary>
    public RoutingScope Scope => Options.Scope ?? Options.Consistency.Scope();

    /// <summary>Counters of gossip, sync and decisions.</summary>
    public MeshStats Stats { get; } = new();

    /// <summary>The version of the newest digest this node made.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>This region's replicas, in digest order.</summary>
    public IReadOnlyList<string> LocalReplicas => _localIds;

    /// <summary>Block hashes per replica a digest carries (its byte budget shared by the local replicas; 0 under <c>local-only</c>).</summary>
    public int HashesPerReplica => _hashesPerReplica;

    /// <summary>Whether this node gossips with, keeps state from and routes to <paramref name="region"/>: one of its nearest regions (all when unbounded).</summary>
    public bool Interested(string region) => ConfiguredRtt.IsNear(Region, region, Options.NearestRegions);

    // ---- local replicas ---------------------------------------------------------------------------------------

    /// <summary>A local replica's latest load: goes to the router at once and into the next digest.</summary>
    /// <exception cref="ArgumentException">The replica is not one of this region's.</exception>
    public void UpdateLocal(ReplicaView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (!_localIndex.TryGetValue(view.Id, out int i) || view.Region != Region)
        {
            throw new ArgumentException($"Replica '{view.Id}' of '{view.Region}' is not a local replica of '{Region}'.", nameof(view));
        }

        lock (_gate)
        {
            _localViews[i] = view;
            Router.Upsert(view);
        }
    }

    /// <summary>
    /// A replica's cache events, removals before stores: a local replica's always; another region's only when its
    /// exact state is delivered (the simulator's <c>shared</c> setting). Stores for a replica the router does not
    /// know yet (before its first load report) are dropped; the next prompts routed there teach it.
    /// </summary>
    public void RecordCache(string replicaId, ReadOnlySpan<ulong> stored, ReadOnlySpan<ulong> removed)
    {
        // The router's own lock orders these against merges; the node's state is not touched.
        if (removed.Length > 0)
        {
            Router.RemoveCached(replicaId, removed);
        }

        if (stored.Length > 0)
        {
            Router.TryRecordCached(replicaId, stored);
        }
    }

    /// <summary>Another region's replica's exact load, delivered at once (the simulator's <c>shared</c> setting only).</summary>
    public void ObserveExact(ReplicaView view) => Router.Upsert(view);

    // ---- digests and gossip -----------------------------------------------------------------------------------

    /// <summary>A new digest of this region: every local replica that has reported its load, with its hottest blocks within the byte budget.</summary>
    public Digest MakeDigest(long nowMs)
    {
        lock (_gate)
        {
            bool shares = SharesState;
            var replicas = new List<ReplicaDigest>(_localIds.Length);
            foreach (ReplicaView? view in _localViews)
            {
                if (view is null)
                {
                    continue;
                }

                replicas.Add(new ReplicaDigest
                {
                    Id = view.Id,
                    Model = view.Model,
                    Health = (int)view.Health,
                    Running = shares ? view.RunningRequests : 0,
                    Queued = shares ? view.QueuedRequests : 0,
                    RunningTokens = shares ? view.RunningTokens : 0,
                    RunningPrefillTokens = shares ? view.RunningPrefillTokens ?? -1 : -1,
                    QueuedTokens = shares ? view.QueuedTokens : 0,
                    KvUtilization = shares ? view.KvCacheUtilization : 0,
                    PrefillMsPerToken = view.PrefillMsPerToken,
                    MaxRunning = view.MaxRunningRequests,
                    MaxQueued = view.MaxQueuedRequests,
                    MaxContextTokens = view.MaxContextTokens,
                    AgeMs = Math.Max(0, nowMs - view.TakenAtMs),
                    HotBlocks = shares ? Router.Summarize(view.Id, _hashesPerReplica).Hashes : null,
                });
            }

            return new Digest { Origin = Region, Incarnation = Incarnation, Version = ++_version, CreatedAtUnixMs = nowMs, Replicas = [.. replicas] };
        }
    }

    /// <summary>The live peer regions this node may gossip with: those among <paramref name="live"/> it follows, in their given order.</summary>
    public string[] GossipPeers(IEnumerable<string> live)
    {
        ArgumentNullException.ThrowIfNull(live);
        return live.Where(r => r != Region && ConfiguredRtt.Contains(r) && Interested(r)).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Up to <c>fanout</c> of <paramref name="peers"/> chosen uniformly at random (the array is shuffled in part; the choice is its head).</summary>
    public ReadOnlySpan<string> ChoosePeers(string[] peers, Random random)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(random);
        int fanout = Math.Min(Options.Gossip.Fanout, peers.Length);
        for (int k = 0; k < fanout; k++)
        {
            // Partial Fisher–Yates: the first fanout peers become a uniform random choice.
            int j = k + random.Next(peers.Length - k);
            (peers[k], peers[j]) = (peers[j], peers[k]);
        }

        return peers.AsSpan(0, fanout);
    }

    /// <summary>The gossip message this node sends its peers now, one message per round, the same to each of <paramref name="copies"/> peers: a fresh digest of its own and the versions of everything it holds.</summary>
    public ReadOnlySequence<byte> MakeGossip(long nowMs, int copies = 1)
    {
        ReadOnlySequence<byte> bytes;
        lock (_gate)
        {
            bytes = Message(WriteDigest(nowMs), [], KnownLocked());
        }

        Stats.Sent((int)bytes.Length * copies);
        return bytes;
    }

    /// <summary>A peer's gossip: merges its digests and returns the reply, this node's fresh digest and every digest the peer lacks among the regions it follows.</summary>
    /// <exception cref="MessagePackSerializationException">The message is malformed.</exception>
    public byte[] HandleGossip(byte[] request, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(request);
        return HandleGossip(new ReadOnlySequence<byte>(request), nowMs).ToArray();
    }

    /// <summary>A peer's gossip: merges its digests and returns the reply (see <see cref="HandleGossip(byte[], long)"/>), as segments.</summary>
    /// <exception cref="MessagePackSerializationException">The message is malformed.</exception>
    public ReadOnlySequence<byte> HandleGossip(ReadOnlySequence<byte> request, long nowMs)
    {
        Stats.Received((int)request.Length);
        ReceivedGossip message = GossipCodec.ReadMessage(request);
        string? requester = message.Sender;
        foreach (ReadOnlyMemory<byte> digest in message.Digests)
        {
            requester ??= GossipCodec.PeekHeader(digest).Origin;
            MergeEncoded(digest, nowMs);
        }

        var relayed = new List<ReadOnlyMemory<byte>>();
        ReadOnlySequence<byte> bytes;
        lock (_gate)
        {
            ReadOnlySpan<byte> own = WriteDigest(nowMs);
            bool follows = requester is not null && ConfiguredRtt.Contains(requester);
            foreach (StoredDigest stored in _remote.Values)
            {
                string origin = stored.Header.Origin;
                if (origin == requester)
                {
                    continue; // the requester's own: it just sent it
                }

                if (follows && !ConfiguredRtt.IsNear(requester!, origin, Options.NearestRegions))
                {
                    continue; // only what the requester routes on: its nearest regions
                }

                if (!message.TryGetKnown(origin, out long incarnation, out long version) || stored.Header.IsNewerThan(incarnation, version))
                {
                    relayed.Add(stored.Bytes);
                }
            }

            bytes = Message(own, relayed, KnownLocked());
        }

        Stats.Sent((int)bytes.Length);
        return bytes;
    }

    /// <summary>A peer's reply to this node's gossip: merges its digests.</summary>
    /// <exception cref="MessagePackSerializationException">The reply is malformed.</exception>
    public void HandleGossipReply(byte[] reply, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(reply);
        HandleGossipReply(new ReadOnlySequence<byte>(reply), nowMs);
    }

    /// <summary>A peer's reply to this node's gossip, as segments: merges its digests.</summary>
    /// <exception cref="MessagePackSerializationException">The reply is malformed.</exception>
    public void HandleGossipReply(ReadOnlySequence<byte> reply, long nowMs)
    {
        Stats.Received((int)reply.Length);
        foreach (ReadOnlyMemory<byte> digest in GossipCodec.ReadMessage(reply).Digests)
        {
            MergeEncoded(digest, nowMs);
        }
    }

    /// <summary>Applies a digest when it is newer than what the node holds from its origin and the node follows that region; returns whether it was applied.</summary>
    public bool Merge(Digest digest, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return MergeEncoded(GossipCodec.Encode(digest), nowMs);
    }

    /// <summary>
    /// Applies an encoded digest when it is newer, by (incarnation, version), than what the node holds from its origin
    /// and the node follows that region: every replica in it goes to the router with its load as old as the digest
    /// says, its hot blocks merged as configured (<c>replace</c> or <c>union</c>), and replicas the origin no longer
    /// lists are removed. Returns whether it was applied.
    /// </summary>
    /// <exception cref="MessagePackSerializationException">The digest is malformed.</exception>
    public bool MergeEncoded(ReadOnlyMemory<byte> encoded, long nowMs)
    {
        DigestHeader header = GossipCodec.PeekHeader(encoded);
        if (header.Origin == Region || !ConfiguredRtt.Contains(header.Origin) || !Interested(header.Origin))
        {
            return false;
        }

        lock (_gate)
        {
            if (_remote.TryGetValue(header.Origin, out StoredDigest? held) && !header.IsNewerThan(held.Header.Incarnation, held.Header.Version))
            {
                return false;
            }

            if (_down.TryGetValue(header.Origin, out long deadIncarnation))
            {
                if (header.Incarnation <= deadIncarnation)
                {
                    return false; // the dead node's own state, relayed by a peer that has not forgotten it yet
                }

                _down.Remove(header.Origin); // restarted
            }

            Apply(_decoder.Decode(header, encoded, held?.Decoded), encoded, held, nowMs); // the bytes stay a slice of the message they came in, for relays
            return true;
        }
    }

    /// <summary>Forgets regions whose newest digest is older than the origin timeout, and their replicas; returns the regions forgotten.</summary>
    public IReadOnlyList<string> ExpireStale(long nowMs)
    {
        lock (_gate)
        {
            List<string>? expired = null;
            foreach (StoredDigest stored in _remote.Values)
            {
                if (nowMs - stored.Header.CreatedAtUnixMs > Options.Gossip.EffectiveOriginTimeoutMs)
                {
                    (expired ??= []).Add(stored.Header.Origin);
                }
            }

            if (expired is null)
            {
                return [];
            }

            Stats.Forgot(expired.Count);
            foreach (string origin in expired)
            {
                ForgetLocked(origin);
            }

            return expired;
        }
    }

    /// <summary>
    /// A region whose node the cluster declared dead: forgotten at once with its replicas, and digests of that node
    /// (its incarnation or older), which peers may still relay, are ignored; a restarted node, with a newer incarnation,
    /// is taken in again. Returns whether the node held a digest of the region.
    /// </summary>
    public bool MarkDown(string origin)
    {
        ArgumentNullException.ThrowIfNull(origin);
        lock (_gate)
        {
            if (!_remote.TryGetValue(origin, out StoredDigest? held))
            {
                return false;
            }

            _down[origin] = held.Header.Incarnation;
            Stats.Forgot(1);
            ForgetLocked(origin);
            return true;
        }
    }

    private void ForgetLocked(string origin)
    {
        if (_remote.Remove(origin, out StoredDigest? stored))
        {
            foreach (ReplicaView r in stored.Decoded.Views)
            {
                Router.Remove(r.Id);
            }
        }
    }

    // ---- sync -------------------------------------------------------------------------------------------------

    /// <summary>The answer to a <c>sync</c> query: a fresh digest of this region, encoded.</summary>
    public byte[] AnswerSync(long nowMs)
    {
        byte[] bytes;
        lock (_gate)
        {
            bytes = WriteDigest(nowMs).ToArray();
        }

        Stats.Sent(bytes.Length);
        return bytes;
    }

    /// <summary>A peer's answer to this node's <c>sync</c> query: merged like any digest.</summary>
    /// <exception cref="MessagePackSerializationException">The answer is malformed.</exception>
    public bool ApplySync(byte[] answer, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(answer);
        Stats.Received(answer.Length);
        return MergeEncoded(answer, nowMs);
    }

    // ---- reachability -------------------------------------------------------------------------------------------

    /// <summary>
    /// Records whether a call to <paramref name="peer"/> (a probe, a gossip exchange, a sync query) succeeded. After
    /// <see cref="ProbeOptions.UnreachableAfterFailures"/> failures in a row the node routes around the peer's region
    /// (a partition, or a node too sick to answer); the next success brings it back. Returns whether that changed.
    /// </summary>
    public bool RecordCall(string peer, bool succeeded)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (!ConfiguredRtt.Contains(peer) || peer == Region)
        {
            return false;
        }

        lock (_gate)
        {
            if (succeeded)
            {
                _failedCalls[peer] = 0;
                return _unreachable.Remove(peer) && Router.SetRegionReachable(peer, reachable: true);
            }

            int failed = _failedCalls[peer] = _failedCalls.GetValueOrDefault(peer) + 1;
            return failed >= Options.Probes.UnreachableAfterFailures && _unreachable.Add(peer) && Router.SetRegionReachable(peer, reachable: false);
        }
    }

    /// <summary>Whether this node can reach <paramref name="peer"/> (see <see cref="RecordCall"/>).</summary>
    public bool IsReachable(string peer)
    {
        lock (_gate)
        {
            return !_unreachable.Contains(peer);
        }
    }

    /// <summary>The regions this node cannot reach now, in name order.</summary>
    public IReadOnlyList<string> UnreachableRegions()
    {
        lock (_gate)
        {
            return _unreachable.Order(StringComparer.Ordinal).ToArray();
        }
    }

    // ---- RTT ----------------------------------------------------------------------------------------------------

    /// <summary>Folds an RTT sample to <paramref name="peer"/> into its EWMA and the router's matrix; returns the estimate, NaN for a bad sample or unknown peer.</summary>
    public double RecordRtt(string peer, double sampleMs)
    {
        if (!ConfiguredRtt.Contains(peer) || peer == Region || !double.IsFinite(sampleMs) || sampleMs < 0)
        {
            return double.NaN;
        }

        lock (_gate)
        {
            double smoothing = Options.Probes.Smoothing;
            double smoothed = _rttEstimates.TryGetValue(peer, out double previous) ? (smoothing * sampleMs) + ((1 - smoothing) * previous) : sampleMs;
            _rttEstimates[peer] = smoothed;
            Router.UpdateRtt(Router.Rtt.With(Region, peer, smoothed).With(peer, Region, smoothed));
            return smoothed;
        }
    }

    // ---- what the node knows ------------------------------------------------------------------------------------

    /// <summary>Regions this node holds a digest from, in name order.</summary>
    public IReadOnlyList<string> KnownRegions()
    {
        lock (_gate)
        {
            return _remote.Keys.Order(StringComparer.Ordinal).ToArray();
        }
    }

    /// <summary>A description of the node's view at <paramref name="nowMs"/>, for <c>/mesh/state</c>.</summary>
    public RegionNodeState Describe(long nowMs)
    {
        lock (_gate)
        {
            return new RegionNodeState(
                Region,
                Incarnation,
                Version,
                Consistency.Name(),
                [.. _localIds],
                _remote.Values.OrderBy(s => s.Header.Origin, StringComparer.Ordinal).Select(s => new RemoteRegionState(
                    s.Header.Origin,
                    s.Header.Version,
                    nowMs - s.Header.CreatedAtUnixMs,
                    s.Decoded.Views.Select((r, i) => new RemoteReplicaState(r.Id, r.Model, nowMs - s.Header.CreatedAtUnixMs + s.Decoded.AgesMs[i], s.Decoded.Summaries[i]?.Hashes.Length ?? 0)).ToArray())).ToArray(),
                Router.Rtt.Regions.ToDictionary(r => r, r => Router.Rtt.Get(Region, r), StringComparer.Ordinal),
                Stats.Snapshot(),
                _unreachable.Order(StringComparer.Ordinal).ToArray());
        }
    }

    /// <summary>Encodes a gossip message from this node: its own digest, those it relays and the versions it holds.</summary>
    private ReadOnlySequence<byte> Message(ReadOnlySpan<byte> own, IReadOnlyList<ReadOnlyMemory<byte>> relayed, (string[] Origins, long[] Versions) known) =>
        GossipCodec.EncodeMessage(own, relayed, known.Origins, known.Versions, Region);

    /// <summary>
    /// Writes a fresh digest of this region, exactly as <see cref="MakeDigest"/> would encode, into the thread's
    /// digest buffer, without building it as objects (gossip makes several a second); the caller holds the lock.
    /// </summary>
    private ReadOnlySpan<byte> WriteDigest(long nowMs)
    {
        ArrayBufferWriter<byte> buffer = GossipCodec.DigestBuffer();
        var writer = new MessagePackWriter(buffer);
        bool shares = SharesState;
        int count = 0;
        foreach (ReplicaView? view in _localViews)
        {
            count += view is null ? 0 : 1;
        }

        // The layout of Digest: [origin, incarnation, version, createdAt, replicas]; of ReplicaDigest: see its keys.
        writer.WriteArrayHeader(5);
        writer.Write(Region);
        writer.Write(Incarnation);
        writer.Write(++_version);
        writer.Write(nowMs);
        writer.WriteArrayHeader(count);
        foreach (ReplicaView? view in _localViews)
        {
            if (view is null)
            {
                continue;
            }

            writer.WriteArrayHeader(15);
            writer.Write(view.Id);
            writer.Write(view.Model);
            writer.Write((int)view.Health);
            writer.Write(shares ? view.RunningRequests : 0);
            writer.Write(shares ? view.QueuedRequests : 0);
            writer.Write(shares ? view.RunningTokens : 0);
            writer.Write(shares ? view.QueuedTokens : 0);
            writer.Write(shares ? view.KvCacheUtilization : 0);
            writer.Write(view.PrefillMsPerToken);
            writer.Write(view.MaxRunningRequests);
            writer.Write(view.MaxQueuedRequests);
            writer.Write(view.MaxContextTokens);
            writer.Write(Math.Max(0, nowMs - view.TakenAtMs));
            if (shares)
            {
                PackedHashesFormatter.Write(ref writer, _hot.AsSpan(0, Router.Summarize(view.Id, _hot)));
            }
            else
            {
                writer.WriteNil();
            }

            writer.Write(shares ? view.RunningPrefillTokens ?? -1 : -1);
        }

        writer.Flush();
        Stats.DigestMade(buffer.WrittenCount);
        return buffer.WrittenSpan;
    }

    private (string[] Origins, long[] Versions) KnownLocked()
    {
        var origins = new string[_remote.Count];
        var versions = new long[2 * _remote.Count];
        int i = 0;
        foreach (StoredDigest stored in _remote.Values)
        {
            origins[i] = stored.Header.Origin;
            versions[2 * i] = stored.Header.Incarnation;
            versions[(2 * i) + 1] = stored.Header.Version;
            i++;
        }

        return (origins, versions);
    }

    private void Apply(DecodedDigest decoded, ReadOnlyMemory<byte> encoded, StoredDigest? previous, long nowMs)
    {
        DigestHeader header = decoded.Header;
        _remote[header.Origin] = new StoredDigest(decoded, encoded);
        bool skewed = header.CreatedAtUnixMs > nowMs; // the origin's clock is ahead: its replicas' loads are as old as they were when it made the digest
        for (int i = 0; i < decoded.Views.Length; i++)
        {
            ReplicaView view = decoded.Views[i];
            try
            {
                Router.Upsert(skewed ? view with { TakenAtMs = nowMs - decoded.AgesMs[i] } : view);
                if (decoded.Summaries[i] is { } summary)
                {
                    Router.ApplySummary(summary, Options.Gossip.SummaryMerge);
                }
            }
            catch (ArgumentException ex)
            {
                Warning?.Invoke($"Ignoring replica '{view.Id}' in the digest from '{header.Origin}': {ex.Message}");
            }
        }

        if (previous is null || decoded.ListsSameAs(previous.Decoded))
        {
            return;
        }

        foreach (ReplicaView gone in previous.Decoded.Views)
        {
            if (!decoded.Lists(gone.Id))
            {
                Router.Remove(gone.Id);
            }
        }
    }

    private sealed record StoredDigest(DecodedDigest Decoded, ReadOnlyMemory<byte> Bytes)
    {
        public DigestHeader Header => Decoded.Header;
    }
}

/// <summary>A node's view, for <c>/mesh/state</c>: its region, digests held from other regions with their ages, RTT estimates, counters and the regions it cannot reach.</summary>
public sealed record RegionNodeState(
    string Region,
    long Incarnation,
    long DigestVersion,
    string Consistency,
    string[] LocalReplicas,
    RemoteRegionState[] Remote,
    Dictionary<string, double> RttMs,
    MeshStatsSnapshot Stats,
    string[] Unreachable);

/// <summary>One region a node holds a digest from.</summary>
public sealed record RemoteRegionState(string Origin, long Version, long AgeMs, RemoteReplicaState[] Replicas);

/// <summary>One replica of a remote region as the node's digest of it says.</summary>
public sealed record RemoteReplicaState(string Id, string Model, long StateAgeMs, int HotBlocks);
