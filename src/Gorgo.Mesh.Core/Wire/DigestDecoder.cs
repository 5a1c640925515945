using System.Buffers;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;
using MessagePack;

namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// An encoded digest read straight into what a node applies: its header, a router view of each replica (its load as
/// old as the digest says, for a receiver whose clock is not behind the origin's) and each replica's prefix summary.
/// Reads the <see cref="Digest"/> layout field by field, without building the <see cref="Digest"/> object; a digest
/// from a newer node with more fields reads too (they are skipped).
/// </summary>
public sealed class DecodedDigest
{
    private static readonly NameFormatter Names = new();
    private static readonly PackedHashesFormatter Hashes = new();
    private ulong[]?[]? _sorted; // each replica's hot blocks sorted by value, when a delta needed them

    /// <summary>
    /// Decodes <paramref name="encoded"/>; a replica whose figures equal its view in <paramref name="previous"/> (an
    /// earlier digest of the same origin) keeps that view object, which a router recognises without reading it again.
    /// A delta needs its base as <paramref name="previous"/>: each replica's hot blocks are the base's, less those
    /// removed, after those added.
    /// </summary>
    /// <exception cref="MessagePackSerializationException">The digest is malformed, or a delta whose base is not <paramref name="previous"/>.</exception>
    public DecodedDigest(ReadOnlyMemory<byte> encoded, DecodedDigest? previous = null)
    {
        try
        {
            var reader = new MessagePackReader(encoded);
            int fields = reader.ReadArrayHeader();
            if (fields < 5)
            {
                throw new MessagePackSerializationException($"A digest has five fields (got {fields}).");
            }

            string origin = Names.Deserialize(ref reader, MessagePackSerializerOptions.Standard) ?? throw new MessagePackSerializationException("A digest has an origin.");
            Header = new DigestHeader(origin, reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
            int count = reader.ReadArrayHeader();
            Views = new ReplicaView[count];
            Summaries = new PrefixSummary?[count];
            AgesMs = new long[count];
            ReplicaView[] before = previous is not null && previous.Header.Origin == origin ? previous.Views : [];
            var removed = new ReadOnlySequence<byte>?[count];
            for (int i = 0; i < count; i++)
            {
                removed[i] = ReadReplica(ref reader, i, i < before.Length ? before[i] : null);
            }

            if (fields > 5)
            {
                Header = Header with { BaseVersion = reader.ReadInt64() };
            }

            if (fields > 6 && !reader.TryReadNil())
            {
                Pending = ReadPending(ref reader, origin);
            }

            for (int extra = 7; extra < fields; extra++)
            {
                reader.Skip();
            }

            if (Header.IsDelta)
            {
                if (previous is null || previous.Header.Origin != origin || previous.Header.Incarnation != Header.Incarnation || previous.Header.Version != Header.BaseVersion)
                {
                    throw new MessagePackSerializationException($"A delta digest of '{origin}' on version {Header.BaseVersion} arrived without that version.");
                }

                ApplyDelta(previous, removed);
            }
        }
        catch (Exception ex) when (ex is not MessagePackSerializationException and (InvalidOperationException or EndOfStreamException or OverflowException or ArgumentException))
        {
            throw new MessagePackSerializationException("A digest is malformed.", ex);
        }
    }

    /// <summary>The digest's origin, incarnation, version, time and base (0 when it was whole).</summary>
    public DigestHeader Header { get; }

    /// <summary>Each replica's view, taken <see cref="AgesMs"/> before the digest was made.</summary>
    public ReplicaView[] Views { get; }

    /// <summary>Each replica's hot blocks as a summary (null when the digest shares none).</summary>
    public PrefixSummary?[] Summaries { get; }

    /// <summary>How old each replica's load was when the digest was made, ms.</summary>
    public long[] AgesMs { get; }

    /// <summary>Requests the origin's router had on their way to replicas, not yet in its view of them.</summary>
    public PendingRequest[] Pending { get; } = [];

    /// <summary>Whether this digest lists exactly the replicas <paramref name="other"/> lists, in the same order.</summary>
    public bool ListsSameAs(DecodedDigest other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Views.Length != Views.Length)
        {
            return false;
        }

        for (int i = 0; i < Views.Length; i++)
        {
            if (!string.Equals(Views[i].Id, other.Views[i].Id, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the digest lists <paramref name="replicaId"/>.</summary>
    public bool Lists(string replicaId)
    {
        foreach (ReplicaView view in Views)
        {
            if (string.Equals(view.Id, replicaId, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads the next string when it is <paramref name="known"/> (an ASCII name the previous digest had at this place); otherwise reads nothing and returns null.</summary>
    private static string? SameName(ref MessagePackReader reader, string? known)
    {
        if (known is null)
        {
            return null;
        }

        MessagePackReader peek = reader.CreatePeekReader();
        if (!peek.TryReadStringSpan(out ReadOnlySpan<byte> utf8) || utf8.Length != known.Length)
        {
            return null;
        }

        for (int c = 0; c < utf8.Length; c++)
        {
            if (utf8[c] != known[c])
            {
                return null; // also any non-ASCII name: its UTF-8 bytes differ from its chars
            }
        }

        reader = peek;
        return known;
    }

    /// <summary>Each replica's hot blocks become its blocks in <paramref name="base"/>, less those <paramref name="removed"/> names, after those the delta added.</summary>
    private void ApplyDelta(DecodedDigest @base, ReadOnlySequence<byte>?[] removed)
    {
        for (int i = 0; i < Views.Length; i++)
        {
            if (Summaries[i] is not { } added)
            {
                continue;
            }

            ulong[] held = @base.HotBlocksOf(Views[i].Id, i);
            int[] gone = removed[i] is { } positions ? RemovedPositions.Read(positions, held.Length) : [];
            if (added.Hashes.Length == 0 && gone.Length == 0 && @base.Summaries.Length > i && @base.Summaries[i] is { } same && ReferenceEquals(same.ReplicaId, added.ReplicaId))
            {
                Summaries[i] = same; // unchanged: share the base's summary
                continue;
            }

            ulong[] dropped = gone.Length == 0 ? [] : new ulong[gone.Length];
            if (gone.Length > 0)
            {
                ulong[] sorted = @base.SortedHotBlocksOf(Views[i].Id, i);
                for (int g = 0; g < gone.Length; g++)
                {
                    dropped[g] = sorted[gone[g]]; // ascending, as the positions are
                }
            }

            var hashes = new ulong[added.Hashes.Length + held.Length];
            added.Hashes.CopyTo(hashes, 0);
            int n = added.Hashes.Length;
            foreach (ulong hash in held)
            {
                if (dropped.Length == 0 || Array.BinarySearch(dropped, hash) < 0)
                {
                    hashes[n++] = hash;
                }
            }

            Summaries[i] = new PrefixSummary(added.ReplicaId, n == hashes.Length ? hashes : hashes[..n]);
        }
    }

    /// <summary>The hot blocks this digest lists for <paramref name="replicaId"/> (looked for at <paramref name="hint"/> first), empty when none.</summary>
    /// <summary>The hot blocks this digest lists for <paramref name="replicaId"/> sorted by value (computed once), empty when none.</summary>
    internal ulong[] SortedHotBlocksOf(string replicaId, int hint)
    {
        int i = IndexOf(replicaId, hint);
        if (i < 0 || Summaries[i] is not { } summary)
        {
            return [];
        }

        _sorted ??= new ulong[]?[Views.Length];
        return _sorted[i] ??= BlockDiff.Sorted(summary.Hashes);
    }

    private int IndexOf(string replicaId, int hint)
    {
        if (hint < Views.Length && string.Equals(Views[hint].Id, replicaId, StringComparison.Ordinal))
        {
            return hint;
        }

        for (int i = 0; i < Views.Length; i++)
        {
            if (string.Equals(Views[i].Id, replicaId, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private static PendingRequest[] ReadPending(ref MessagePackReader reader, string origin)
    {
        int count = reader.ReadArrayHeader();
        var pending = new PendingRequest[count];
        for (int i = 0; i < count; i++)
        {
            int fields = reader.ReadArrayHeader();
            if (fields < 3)
            {
                throw new MessagePackSerializationException($"A pending request in the digest of '{origin}' has three fields.");
            }

            string replica = Names.Deserialize(ref reader, MessagePackSerializerOptions.Standard) ?? throw new MessagePackSerializationException("A pending request names its replica.");
            pending[i] = new PendingRequest(replica, reader.ReadInt64(), reader.ReadInt64());
            for (int extra = 3; extra < fields; extra++)
            {
                reader.Skip();
            }
        }

        return pending;
    }

    internal ulong[] HotBlocksOf(string replicaId, int hint) => IndexOf(replicaId, hint) is var i and >= 0 ? Summaries[i]?.Hashes ?? [] : [];

    private ReadOnlySequence<byte>? ReadReplica(ref MessagePackReader reader, int i, ReplicaView? before)
    {
        // The layout of ReplicaDigest: [id, model, health, running, queued, runningTokens, queuedTokens, kv, t_p,
        // maxRunning, maxQueued, maxContext, ageMs, hotBlocks, runningPrefillTokens, removedBlocks, decodeMsPerRequest,
        // decodeStepMicros, ...].
        int fields = reader.ReadArrayHeader();
        if (fields < 14)
        {
            throw new MessagePackSerializationException($"A replica in a digest has at least 14 fields (got {fields}).");
        }

        string id = SameName(ref reader, before?.Id) ?? Names.Deserialize(ref reader, MessagePackSerializerOptions.Standard) ?? throw new MessagePackSerializationException("A replica in a digest has an id.");
        string model = SameName(ref reader, before?.Model) ?? Names.Deserialize(ref reader, MessagePackSerializerOptions.Standard) ?? string.Empty;
        int health = reader.ReadInt32();
        int running = reader.ReadInt32();
        int queued = reader.ReadInt32();
        long runningTokens = reader.ReadInt64();
        long queuedTokens = reader.ReadInt64();
        double kv = reader.ReadDouble();
        double prefillMsPerToken = reader.ReadDouble();
        int maxRunning = reader.ReadInt32();
        int maxQueued = reader.ReadInt32();
        int maxContext = reader.ReadInt32();
        long ageMs = reader.ReadInt64();
        ulong[]? hot = Hashes.Deserialize(ref reader, MessagePackSerializerOptions.Standard);
        long runningPrefill = fields > 14 ? reader.ReadInt64() : -1;
        ReadOnlySequence<byte>? removed = fields > 15 && !reader.TryReadNil() ? reader.ReadBytes() : null;
        double decodeMs = fields > 16 ? reader.ReadDouble() : -1;
        int stepMicros = fields > 17 ? reader.ReadInt32() : -1;
        for (int extra = 18; extra < fields; extra++)
        {
            reader.Skip();
        }

        AgesMs[i] = ageMs;
        Summaries[i] = hot is null ? null : new PrefixSummary(id, hot);
        long takenAtMs = Header.CreatedAtUnixMs - ageMs;
        long? prefill = runningPrefill >= 0 ? runningPrefill : null;
        double? decode = decodeMs >= 0 ? decodeMs : null;
        double? step = stepMicros >= 0 ? stepMicros / 1000.0 : null;
        if (before is not null && ReferenceEquals(before.Id, id) && ReferenceEquals(before.Model, model) && (int)before.Health == health
            && before.RunningRequests == running && before.QueuedRequests == queued && before.RunningTokens == runningTokens
            && before.RunningPrefillTokens == prefill && Nullable.Equals(before.DecodeMsPerRequest, decode) && Nullable.Equals(before.DecodeStepMs, step) && before.QueuedTokens == queuedTokens && before.KvCacheUtilization.Equals(kv)
            && before.PrefillMsPerToken.Equals(prefillMsPerToken) && before.MaxRunningRequests == maxRunning && before.MaxQueuedRequests == maxQueued
            && before.MaxContextTokens == maxContext && before.TakenAtMs == takenAtMs)
        {
            Views[i] = before; // the same load report again (names are interned, so equal names are the same string)
            return removed;
        }

        Views[i] = new ReplicaView
        {
            Id = id,
            Region = Header.Origin,
            Model = model,
            Health = (ReplicaHealth)health,
            RunningRequests = running,
            QueuedRequests = queued,
            RunningTokens = runningTokens,
            RunningPrefillTokens = prefill,
            DecodeMsPerRequest = decode,
            DecodeStepMs = step,
            QueuedTokens = queuedTokens,
            KvCacheUtilization = kv,
            PrefillMsPerToken = prefillMsPerToken,
            MaxRunningRequests = maxRunning,
            MaxQueuedRequests = maxQueued,
            MaxContextTokens = maxContext,
            TakenAtMs = takenAtMs,
        };
        return removed;
    }
}

/// <summary>Turns an encoded digest into a <see cref="DecodedDigest"/>; this one decodes every digest it is given.</summary>
public class DigestDecoder
{
    /// <summary>Decodes the digest whose header is <paramref name="header"/>; <paramref name="held"/> is the receiver's digest of that origin, whose unchanged views are reused.</summary>
    /// <exception cref="MessagePackSerializationException">The digest is malformed.</exception>
    public virtual DecodedDigest Decode(in DigestHeader header, ReadOnlyMemory<byte> encoded, DecodedDigest? held) => new(encoded, held);
}

/// <summary>
/// A decoder shared by many nodes in one process (the simulator's): a digest identified by its origin, incarnation
/// and version decodes to the same content wherever it arrives, whole or as a delta on any base, so it is decoded
/// once and its views and summaries are shared (no node changes them). Keeps the few newest digests of each origin.
/// </summary>
public sealed class SharedDigestDecoder : DigestDecoder
{
    private const int KeptPerOrigin = 4;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<DecodedDigest>> _byOrigin = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override DecodedDigest Decode(in DigestHeader header, ReadOnlyMemory<byte> encoded, DecodedDigest? held)
    {
        lock (_gate)
        {
            if (!_byOrigin.TryGetValue(header.Origin, out List<DecodedDigest>? kept))
            {
                _byOrigin[header.Origin] = kept = new(KeptPerOrigin + 1);
            }

            foreach (DecodedDigest decoded in kept)
            {
                if (decoded.Header.Incarnation == header.Incarnation && decoded.Header.Version == header.Version)
                {
                    return decoded;
                }
            }

            DecodedDigest? newest = held;
            foreach (DecodedDigest decoded in kept)
            {
                if (newest is null || decoded.Header.IsNewerThan(newest.Header.Incarnation, newest.Header.Version))
                {
                    newest = decoded;
                }
            }

            var fresh = new DecodedDigest(encoded, header.IsDelta ? held : newest); // a delta needs the receiver's digest, its base
            kept.Add(fresh);
            if (kept.Count > KeptPerOrigin)
            {
                int oldest = 0;
                for (int i = 1; i < kept.Count; i++)
                {
                    if (kept[oldest].Header.IsNewerThan(kept[i].Header.Incarnation, kept[i].Header.Version))
                    {
                        oldest = i;
                    }
                }

                kept.RemoveAt(oldest);
            }

            return fresh;
        }
    }
}
