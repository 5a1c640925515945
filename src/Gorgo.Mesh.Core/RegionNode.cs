using System.Buffers;
using Gorgo.Mesh.Core.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Decisions;
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
    private const int AwaitingPerOrigin = 4;
    private readonly Dictionary<string, List<(DigestHeader Header, ReadOnlyMemory<byte> Bytes)>> _awaitingBase = new(StringComparer.Ordinal); // per origin: deltas that overtook their base, oldest first
    private readonly Dictionary<string, PeerAck> _acks = new(StringComparer.Ordinal); // per peer region: which of our digests it holds
    private readonly OwnSnapshot?[] _history; // our recent digests' hot blocks, by version: the bases deltas are made against
    private readonly BlockDiff _diff = new();
    private readonly List<PendingRequest> _pending = [];
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
        _history = new OwnSnapshot?[Math.Max(1, options.Gossip.DeltaHistory)];
    }

    /// <summary>
    /// The replica that serves a request another region's node sent to <paramref name="chosenReplicaId"/>, decided as it
    /// arrives. With <see cref="RegionNodeOptions.RebindOnArrival"/> this node routes it again on its own view (its
    /// decision counts as pending work and teaches the prefix index, as any decision does): among its own replicas, or,
    /// when <paramref name="mayRelay"/> and <see cref="RegionNodeOptions.RelayFactor"/> allow it, on to another region's
    /// replica, when this region turned out that factor worse than the sender expected and that replica is that factor
    /// better (<see cref="Router.RouteOnArrival"/>). Otherwise, when the replica is not this node's, or when no replica
    /// can take the request, the sender's choice stands. <paramref name="request"/> is the request as the sender routed
    /// it (its scope and client region are ignored); <paramref name="senderRegion"/> is the region whose node sent it and
    /// <paramref name="expectedEngineMs"/> what it expected of the engine it chose (its estimate less the network; 0 when
    /// unknown, which relays only when no replica of this region can take the request).
    /// </summary>
    public ArrivalChoice RouteOnArrival(in RoutingRequest request, string chosenReplicaId, string? senderRegion, bool mayRelay, double expectedEngineMs = 0)
    {
        ArgumentNullException.ThrowIfNull(chosenReplicaId);
        if (!_localIndex.ContainsKey(chosenReplicaId))
        {
            return new ArrivalChoice(chosenReplicaId, Region, Relayed: false);
        }

        var choice = new ArrivalChoice(chosenReplicaId, Region, Relayed: false);
        if (Options.RebindOnArrival)
        {
            try
            {
                double relayFactor = mayRelay && senderRegion is not null ? Options.RelayFactor : 0;
                RoutedChoice routed = Router.RouteOnArrival(request with { ClientRegion = senderRegion }, relayFactor, expectedEngineMs);
                CandidateScore chosen = routed.Chosen;
                bool relayed = chosen.Region != Region;
                choice = new ArrivalChoice(chosen.ReplicaId, chosen.Region, relayed) { Model = relayed ? null : routed.ChosenModelEstimate };
            }
            catch (RoutingException)
            {
                // No replica can take it now: the sender's choice stands (and fails there if it must).
            }
        }

        Stats.Arrived(rebound: !string.Equals(choice.ReplicaId, chosenReplicaId, StringComparison.Ordinal), relayed: choice.Relayed);
        return choice;
    }

    /// <summary>
    /// Feeds the calibration of one of this node's replicas with a request another node sent, which the replica served:
    /// the model's estimate when the request arrived (<see cref="ArrivalChoice.Model"/>) against the time its first
    /// token took from then (ms). Together with the TTFTs of its own users' requests, the node so fits its replicas from
    /// all they serve, and publishes their calibrated prefill rate in its digests (<see cref="Router.PublishedPrefillMsPerToken"/>).
    /// </summary>
    public void ObserveArrival(string replicaId, in TtftEstimate model, double firstTokenMs)
    {
        if (_localIndex.ContainsKey(replicaId))
        {
            Router.Observe(replicaId, model.QueueMs, model.PrefillMs, firstTokenMs);
        }
    }

    /// <summary>A mesh node's router settings from <paramref name="options"/>: calibration fits only the node's own replicas (<see cref="CalibrationOptions.OwnReplicasOnly"/>); the other regions' calibrated prefill rates arrive in their digests.</summary>
    public static RouterOptions RouterOptions(RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options with { Cost = options.Cost with { Calibration = options.Cost.Calibration with { OwnReplicasOnly = true } } };
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
                    DecodeMsPerRequest = shares ? view.DecodeMsPerRequest ?? -1 : -1,
                    DecodeStepMicros = shares ? ReplicaDigest.ToMicros(view.DecodeStepMs) : -1,
                    QueuedTokens = shares ? view.QueuedTokens : 0,
                    KvUtilization = shares ? view.KvCacheUtilization : 0,
                    PrefillMsPerToken = Router.PublishedPrefillMsPerToken(view.Id, view.PrefillMsPerToken),
                    MaxRunning = view.MaxRunningRequests,
                    MaxQueued = view.MaxQueuedRequests,
                    MaxContextTokens = view.MaxContextTokens,
                    AgeMs = Math.Max(0, nowMs - view.TakenAtMs),
                    HotBlocks = shares ? Router.Summarize(view.Id, _hashesPerReplica).Hashes : null,
                });
            }

            PendingRequest[] pending = PendingNow(shares);
            return new Digest
            {
                Origin = Region,
                Incarnation = Incarnation,
                Version = ++_version,
                CreatedAtUnixMs = nowMs,
                Replicas = [.. replicas],
                Pending = [.. pending.Select(p => new PendingDigest { ReplicaId = p.ReplicaId, ArrivesAtUnixMs = p.ArrivesAtMs, Tokens = p.Tokens })],
            };
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

    /// <summary>
    /// The gossip message this node sends <paramref name="peer"/> now: a fresh digest of its own and the versions of
    /// everything it holds. The digest is a delta on the newest of ours the peer has told us it holds, when it takes
    /// part in delta gossip and we still have that version; else whole (and whole for no named peer).
    /// </summary>
    public ReadOnlySequence<byte> MakeGossip(long nowMs, string? peer = null)
    {
        ReadOnlySequence<byte> bytes;
        lock (_gate)
        {
            bytes = Message(WriteDigest(nowMs, peer), [], KnownLocked());
        }

        Stats.Sent((int)bytes.Length);
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
            NoteAck(requester, message);
            ReadOnlySpan<byte> own = WriteDigest(nowMs, requester);
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

                if (Relay(stored, message) is { } relay)
                {
                    relayed.Add(relay);
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
        ReceivedGossip message = GossipCodec.ReadMessage(reply);
        foreach (ReadOnlyMemory<byte> digest in message.Digests)
        {
            MergeEncoded(digest, nowMs);
        }

        lock (_gate)
        {
            NoteAck(message.Sender, message);
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

            DecodedDigest? previous = held?.Decoded;
            if (header.IsDelta && (previous = held?.Find(header.Incarnation, header.BaseVersion)) is null)
            {
                // Made on a version this node does not hold: yet (a message that overtook its base waits for it), no
                // longer or never (dropped: the origin's next message repairs it).
                if (held is null)
                {
                    Stats.DeltaWithoutBase();
                }
                else
                {
                    AwaitBase(header, encoded);
                }

                return false;
            }

            DecodedDigest decoded;
            try
            {
                decoded = _decoder.Decode(header, encoded, previous);
            }
            catch (DeltaBaseMismatchException)
            {
                Stats.DeltaWithoutBase(); // the base we hold under that version is not the one the delta was made on
                return false;
            }

            Apply(decoded, encoded, header.BaseVersion, held, nowMs); // the bytes stay a slice of the message they came in, for relays
            ApplyAwaiting(header.Origin, nowMs);
            return true;
        }
    }

    /// <summary>Keeps a delta whose base has not arrived (a message of the origin's that it overtook), the newest few per origin.</summary>
    private void AwaitBase(DigestHeader header, ReadOnlyMemory<byte> encoded)
    {
        if (!_awaitingBase.TryGetValue(header.Origin, out List<(DigestHeader Header, ReadOnlyMemory<byte> Bytes)>? waiting))
        {
            _awaitingBase[header.Origin] = waiting = [];
        }

        int at = waiting.FindIndex(w => header.IsNewerThan(w.Header.Incarnation, w.Header.Version) is false);
        waiting.Insert(at < 0 ? waiting.Count : at, (header, encoded));
        if (waiting.Count > AwaitingPerOrigin)
        {
            waiting.RemoveAt(0); // the oldest, whose base did not come
            Stats.DeltaWithoutBase();
        }
    }

    /// <summary>Applies, oldest first, the waiting deltas of <paramref name="origin"/> whose base the node now holds; drops those no newer than what it holds.</summary>
    private void ApplyAwaiting(string origin, long nowMs)
    {
        if (!_awaitingBase.TryGetValue(origin, out List<(DigestHeader Header, ReadOnlyMemory<byte> Bytes)>? waiting))
        {
            return;
        }

        for (int i = 0; i < waiting.Count && _remote.TryGetValue(origin, out StoredDigest? held);)
        {
            (DigestHeader header, ReadOnlyMemory<byte> bytes) = waiting[i];
            if (!header.IsNewerThan(held.Header.Incarnation, held.Header.Version))
            {
                waiting.RemoveAt(i); // what it says is already superseded
                continue;
            }

            if (held.Find(header.Incarnation, header.BaseVersion) is not { } @base)
            {
                i++;
                continue;
            }

            waiting.RemoveAt(i);
            try
            {
                Apply(_decoder.Decode(header, bytes, @base), bytes, header.BaseVersion, held, nowMs);
                i = 0; // what it made newer may be the base of one already passed over
            }
            catch (DeltaBaseMismatchException)
            {
                Stats.DeltaWithoutBase(); // not the base it was made on after all
            }
        }

        if (waiting.Count == 0)
        {
            _awaitingBase.Remove(origin);
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
        _awaitingBase.Remove(origin);
        if (_remote.Remove(origin, out StoredDigest? stored))
        {
            Router.SetPeerPending(origin, []);
            foreach (ReplicaView r in stored.Decoded.Views)
            {
                Router.Remove(r.Id);
            }
        }
    }

    // ---- sync -------------------------------------------------------------------------------------------------

    /// <summary>The answer to a <c>sync</c> query from <paramref name="requester"/> (when it says): a fresh digest of this region, whole and encoded; later deltas to the requester are made on it.</summary>
    public byte[] AnswerSync(long nowMs, string? requester = null)
    {
        byte[] bytes;
        lock (_gate)
        {
            bytes = WriteDigest(nowMs, requester, whole: true).ToArray();
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

            if (_acks.TryGetValue(peer, out PeerAck? ack))
            {
                ack.Restart(); // what we sent it may not have arrived
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
    private ReadOnlySequence<byte> Message(ReadOnlySpan<byte> own, IReadOnlyList<ReadOnlyMemory<byte>> relayed, (string[] Origins, long[] Versions, long[] CreatedAt) known) =>
        GossipCodec.EncodeMessage(own, relayed, known.Origins, known.Versions, Region, known.CreatedAt, Options.Gossip.Deltas && SharesState);

    /// <summary>
    /// Writes a fresh digest of this region into the thread's digest buffer, without building it as objects (gossip
    /// makes several a second): whole, exactly as <see cref="MakeDigest"/> would encode, or for <paramref name="peer"/>
    /// a delta on the version it holds (<see cref="DeltaBase"/>). Keeps the digest's hot blocks as the base of later
    /// deltas. The caller holds the lock.
    /// </summary>
    private ReadOnlySpan<byte> WriteDigest(long nowMs, string? peer, bool whole = false)
    {
        ArrayBufferWriter<byte> buffer = GossipCodec.DigestBuffer();
        var writer = new MessagePackWriter(buffer);
        bool shares = SharesState;
        int count = 0;
        foreach (ReplicaView? view in _localViews)
        {
            count += view is null ? 0 : 1;
        }

        long version = ++_version;
        OwnSnapshot? previous = _history[(version - 1) % _history.Length] is { } last && last.Version == version - 1 ? last : null;
        OwnSnapshot? @base = DeltaBase(peer, version, nowMs, whole);
        var snapshot = new OwnSnapshot(version, new string[count], new ulong[]?[count], new ulong[]?[count]);
        var header = new DigestHeader(Region, Incarnation, version, nowMs, @base?.Version ?? 0);
        DigestWriter.Begin(ref writer, header, count);
        int k = 0;
        foreach (ReplicaView? view in _localViews)
        {
            if (view is null)
            {
                continue;
            }

            (ulong[] Hot, ulong[] Sorted)? now = shares ? HotNow(view.Id, previous) : null;
            ulong[]? hot = now?.Hot;
            snapshot.Ids[k] = view.Id;
            snapshot.Hot[k] = hot;
            snapshot.Sorted[k++] = now?.Sorted;
            long ageMs = Math.Max(0, nowMs - view.TakenAtMs);
            if (@base is null || hot is null)
            {
                DigestWriter.Replica(ref writer, view, shares, ageMs, hot, hot?.Length ?? 0, 0, [], delta: false);
            }
            else
            {
                ulong[] before = @base.SortedHotOf(view.Id);
                _diff.Compute(before, hot, now!.Value.Sorted);
                DigestWriter.Replica(ref writer, view, shares, ageMs, _diff.Added, _diff.AddedCount, before.Length, _diff.Removed, delta: true);
            }
        }

        DigestWriter.End(ref writer, header, PendingNow(shares));
        writer.Flush();
        _history[version % _history.Length] = snapshot;
        Stats.DigestMade(buffer.WrittenCount, @base is not null);
        return buffer.WrittenSpan;
    }

    /// <summary>The router's own pending requests, which digests carry so that other routers count them (none under <c>local-only</c>).</summary>
    private PendingRequest[] PendingNow(bool shares)
    {
        if (!shares)
        {
            return [];
        }

        _pending.Clear();
        Router.ExportPending(_pending);
        return [.. _pending];
    }

    /// <summary>A local replica's hot blocks now, hottest first and sorted by value, as the digest of <paramref name="previous"/> had them when unchanged (so unchanged replicas share arrays across versions).</summary>
    private (ulong[] Hot, ulong[] Sorted) HotNow(string replicaId, OwnSnapshot? previous)
    {
        int n = Router.Summarize(replicaId, _hot);
        ReadOnlySpan<ulong> now = _hot.AsSpan(0, n);
        if (previous is not null && previous.IndexOf(replicaId) is var i and >= 0 && previous.Hot[i] is { } before && now.SequenceEqual(before))
        {
            return (before, previous.Sorted[i]!);
        }

        ulong[] hot = now.ToArray();
        return (hot, BlockDiff.Sorted(hot));
    }

    /// <summary>
    /// The digest of ours a delta to <paramref name="peer"/> is made on, null for a whole digest (which restarts the
    /// anti-entropy clock). Deltas chain: each is made on the last digest we sent the peer, which it will hold when
    /// nothing was lost, until the peer confirms it. The chain starts again from the newest version the peer confirmed
    /// when a message to it fails (<see cref="RecordCall"/>), when it confirms a version we did not send it (relayed:
    /// it ignores ours older than that) and when one sent has gone unconfirmed for
    /// <see cref="GossipOptions.EffectiveConfirmWithinMs"/>; a receiver keeps a delta that overtook its base until
    /// the base arrives. Whole when delta gossip is off, the peer does not take part, holds none of this incarnation,
    /// is due its anti-entropy exchange (<see cref="GossipOptions.FullExchangeIntervalMs"/>) or the base is no longer
    /// kept. Records the digest about to be sent as <paramref name="version"/> (<paramref name="whole"/>: whole in any case).
    /// </summary>
    private OwnSnapshot? DeltaBase(string? peer, long version, long nowMs, bool whole)
    {
        if (peer is null || peer == Region || !ConfiguredRtt.Contains(peer))
        {
            return null;
        }

        if (!_acks.TryGetValue(peer, out PeerAck? ack))
        {
            _acks[peer] = ack = new PeerAck();
        }

        long baseVersion = ack.BaseFor(nowMs, Options.Gossip.EffectiveConfirmWithinMs, Incarnation);
        ack.Sending(version, nowMs);
        int fullEvery = Options.Gossip.FullExchangeIntervalMs;
        if (!whole && Options.Gossip.Deltas && SharesState && ack.AcceptsDeltas && baseVersion > 0
            && (fullEvery == 0 || nowMs - ack.LastWholeAtMs < fullEvery)
            && _history[baseVersion % _history.Length] is { } held && held.Version == baseVersion)
        {
            return held;
        }

        ack.LastWholeAtMs = nowMs;
        return null;
    }

    /// <summary>Records which of our digests <paramref name="peer"/> holds, as its message says, and whether it takes part in delta gossip.</summary>
    private void NoteAck(string? peer, ReceivedGossip message)
    {
        if (peer is null || peer == Region || !ConfiguredRtt.Contains(peer))
        {
            return;
        }

        if (!_acks.TryGetValue(peer, out PeerAck? ack))
        {
            _acks[peer] = ack = new PeerAck { LastWholeAtMs = long.MinValue / 2 };
        }

        ack.AcceptsDeltas = message.AcceptsDeltas;
        bool holds = message.TryGetKnown(Region, out long incarnation, out long version);
        ack.Confirmed(holds ? incarnation : 0, holds ? version : 0, Incarnation);
    }

    /// <summary>
    /// What of <paramref name="stored"/> goes back to a requester whose message is <paramref name="message"/>, null for
    /// nothing. A requester that does not take part in delta gossip gets every newer digest whole, as before deltas.
    /// One that does gets it only when it holds none of that origin's current incarnation or lags ours by
    /// <see cref="GossipOptions.RelayAfterMs"/> (it hears from the origin itself otherwise): as the delta we hold when
    /// that is made on the version the requester holds, else as a delta we make from its version when we still keep
    /// that one, else whole.
    /// </summary>
    private ReadOnlyMemory<byte>? Relay(StoredDigest stored, ReceivedGossip message)
    {
        DigestHeader header = stored.Header;
        if (!message.TryGetKnown(header.Origin, out long incarnation, out long version, out long createdAt))
        {
            return stored.Whole();
        }

        if (!header.IsNewerThan(incarnation, version))
        {
            return null;
        }

        if (!message.AcceptsDeltas || !Options.Gossip.Deltas || incarnation != header.Incarnation)
        {
            return stored.Whole();
        }

        if (header.CreatedAtUnixMs - createdAt < Options.Gossip.EffectiveRelayAfterMs)
        {
            // It hears from the origin itself. Relaying anyway would double the bytes, and a version made for us that
            // overtakes the origin's own message to the requester breaks the origin's chain of deltas to it.
            return null;
        }

        if (stored.BaseVersion != 0 && stored.BaseVersion == version)
        {
            return stored.Bytes; // the delta as it came is made on what the requester holds
        }

        return stored.Find(incarnation, version) is { } theirs ? DigestWriter.Delta(theirs, stored.Decoded, _diff) : stored.Whole();
    }

    private (string[] Origins, long[] Versions, long[] CreatedAt) KnownLocked()
    {
        var origins = new string[_remote.Count];
        var versions = new long[2 * _remote.Count];
        var createdAt = new long[_remote.Count];
        int i = 0;
        foreach (StoredDigest stored in _remote.Values)
        {
            origins[i] = stored.Header.Origin;
            versions[2 * i] = stored.Header.Incarnation;
            versions[(2 * i) + 1] = stored.Header.Version;
            createdAt[i] = stored.Header.CreatedAtUnixMs;
            i++;
        }

        return (origins, versions, createdAt);
    }

    private void Apply(DecodedDigest decoded, ReadOnlyMemory<byte> encoded, long baseVersion, StoredDigest? previous, long nowMs)
    {
        DigestHeader header = decoded.Header;
        Router.SetPeerPending(header.Origin, decoded.Pending);
        _remote[header.Origin] = new StoredDigest(decoded, encoded, previous?.KeepFor(header.Incarnation) ?? [], baseVersion);
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

    /// <summary>A region's newest digest as held (decoded, and its bytes as they came, a delta on <c>BaseVersion</c> or whole when 0), and the few before it of the same incarnation (bases for deltas made on them: a peer may make one on a version we held before the newest reached us).</summary>
    private sealed record StoredDigest(DecodedDigest Decoded, ReadOnlyMemory<byte> Bytes, DecodedDigest[] Earlier, long BaseVersion)
    {
        private const int Kept = 4;
        private byte[]? _whole;

        public DigestHeader Header => Decoded.Header;

        /// <summary>The digest of this version held, if still kept.</summary>
        public DecodedDigest? Find(long incarnation, long version)
        {
            if (Header.Incarnation == incarnation && Header.Version == version)
            {
                return Decoded;
            }

            foreach (DecodedDigest earlier in Earlier)
            {
                if (earlier.Header.Incarnation == incarnation && earlier.Header.Version == version)
                {
                    return earlier;
                }
            }

            return null;
        }

        /// <summary>The digests to keep as earlier ones once a newer digest of <paramref name="incarnation"/> replaces this one.</summary>
        public DecodedDigest[] KeepFor(long incarnation)
        {
            if (Header.Incarnation != incarnation)
            {
                return [];
            }

            var kept = new DecodedDigest[Math.Min(Kept, Earlier.Length + 1)];
            kept[0] = Decoded;
            Array.Copy(Earlier, 0, kept, 1, kept.Length - 1);
            return kept;
        }

        /// <summary>The digest whole: its bytes as they came, or for a delta its content re-encoded (once).</summary>
        public ReadOnlyMemory<byte> Whole() => BaseVersion != 0 ? _whole ??= DigestWriter.Whole(Decoded) : Bytes;
    }

    /// <summary>One of our digests as a base for deltas: the hot blocks it listed for each replica, hottest first and sorted by value.</summary>
    private sealed record OwnSnapshot(long Version, string[] Ids, ulong[]?[] Hot, ulong[]?[] Sorted)
    {
        /// <summary>A replica's hot blocks in this digest sorted by value (how removals are named), empty when it listed none.</summary>
        public ulong[] SortedHotOf(string replicaId) => IndexOf(replicaId) is var i and >= 0 ? Sorted[i] ?? [] : [];

        public int IndexOf(string replicaId)
        {
            for (int i = 0; i < Ids.Length; i++)
            {
                if (string.Equals(Ids[i], replicaId, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            return -1;
        }
    }

    /// <summary>What a peer region holds of ours: the newest digest it confirmed, and those sent since that it has not.</summary>
    private sealed class PeerAck
    {
        private const int MaxUnconfirmed = 32;
        private readonly Queue<(long Version, long SentAtMs)> _unconfirmed = new();
        private readonly long[] _sent = new long[MaxUnconfirmed]; // the last versions sent, restarts or not
        private int _sentCount;
        private long _lastSent;

        public long Incarnation { get; private set; }

        public long Version { get; private set; }

        public bool AcceptsDeltas { get; set; }

        public long LastWholeAtMs { get; set; }

        /// <summary>The version of ours (incarnation <paramref name="ours"/>) the next delta is made on: the last one sent, unless one sent before it went unconfirmed too long (lost: start again from the confirmed one); 0 for none.</summary>
        public long BaseFor(long nowMs, int confirmWithinMs, long ours)
        {
            if (_unconfirmed.TryPeek(out (long Version, long SentAtMs) oldest) && (nowMs - oldest.SentAtMs > confirmWithinMs || _unconfirmed.Count >= MaxUnconfirmed))
            {
                Restart();
            }

            return _unconfirmed.Count > 0 ? _lastSent : Incarnation == ours ? Version : 0;
        }

        /// <summary>Our digest <paramref name="version"/> goes to the peer now.</summary>
        public void Sending(long version, long nowMs)
        {
            _unconfirmed.Enqueue((version, nowMs));
            _sent[_sentCount++ % _sent.Length] = version;
            _lastSent = version;
        }

        /// <summary>Makes the next delta on the newest version the peer confirmed, not on those sent since (one of them may not have been taken: a call failed, went unconfirmed, or a relayed version overtook it).</summary>
        public void Restart()
        {
            _unconfirmed.Clear();
            _lastSent = 0;
        }

        /// <summary>The peer says it holds our digest (incarnation, version) (0, 0: none); <paramref name="ours"/> is our incarnation.</summary>
        public void Confirmed(long incarnation, long version, long ours)
        {
            if (incarnation != ours)
            {
                (Incarnation, Version) = (incarnation, 0);
                _unconfirmed.Clear();
                return;
            }

            if (Incarnation != ours || version > Version)
            {
                (Incarnation, Version) = (incarnation, version);
                if (!Sent(version))
                {
                    // It holds a newer version of ours that reached it another way (relayed): what we sent it before
                    // that is ignored there, so deltas chained on it would lack their base. Start again from this one.
                    Restart();
                    return;
                }
            }

            while (_unconfirmed.TryPeek(out (long Version, long SentAtMs) oldest) && oldest.Version <= Version)
            {
                _unconfirmed.Dequeue();
            }
        }

        /// <summary>Whether <paramref name="version"/> is one of the last we sent the peer.</summary>
        private bool Sent(long version) => _sent.AsSpan(0, Math.Min(_sentCount, _sent.Length)).Contains(version);
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

/// <summary>Where a request another region's node sent here is served: <see cref="ReplicaId"/> in <see cref="Region"/>, relayed when that is another region.</summary>
/// <param name="ReplicaId">The serving replica.</param>
/// <param name="Region">Its region.</param>
/// <param name="Relayed">Whether the request goes on to another region's replica (it may not be relayed again).</param>
public readonly record struct ArrivalChoice(string ReplicaId, string Region, bool Relayed)
{
    /// <summary>The uncalibrated model's estimate for the home replica chosen on arrival (its network part is the sender's leg); null when the node did not route the request or relayed it.</summary>
    public TtftEstimate? Model { get; init; }
}
