using System.Buffers;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using MessagePack;

namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// Writes the <see cref="Digest"/> layout field by field, exactly as MessagePack serializes a <see cref="Digest"/>,
/// without building it as objects: a node's own digests (whole or delta) and whole re-encodings of digests it holds.
/// </summary>
internal static class DigestWriter
{
    /// <summary>Starts a digest: [origin, incarnation, version, createdAt, replicas..., base, pending]; the caller writes <paramref name="replicas"/> replicas, then <see cref="End"/>.</summary>
    public static void Begin(ref MessagePackWriter writer, in DigestHeader header, int replicas)
    {
        writer.WriteArrayHeader(7);
        writer.Write(header.Origin);
        writer.Write(header.Incarnation);
        writer.Write(header.Version);
        writer.Write(header.CreatedAtUnixMs);
        writer.WriteArrayHeader(replicas);
    }

    /// <summary>Ends a digest with its base version (0: whole) and the origin router's pending requests.</summary>
    public static void End(ref MessagePackWriter writer, in DigestHeader header, ReadOnlySpan<PendingRequest> pending)
    {
        writer.Write(header.BaseVersion);
        writer.WriteArrayHeader(pending.Length);
        foreach (PendingRequest request in pending)
        {
            writer.WriteArrayHeader(3);
            writer.Write(request.ReplicaId);
            writer.Write(request.ArrivesAtMs);
            writer.Write(request.Tokens);
        }
    }

    /// <summary>
    /// Writes one replica: its load (zeros unless <paramref name="shares"/>), how old it was, its hot blocks (all of
    /// them, or in a delta those added; nil when <paramref name="hot"/> is null) and, in a delta, the positions of
    /// those removed among the <paramref name="baseCount"/> blocks of the base (<see cref="RemovedPositions"/>).
    /// </summary>
    public static void Replica(ref MessagePackWriter writer, ReplicaView view, bool shares, long ageMs, ulong[]? hot, int hotCount, int baseCount, ReadOnlySpan<int> removed, bool delta)
    {
        // The layout of ReplicaDigest: see its keys.
        writer.WriteArrayHeader(18);
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
        writer.Write(ageMs);
        if (hot is null)
        {
            writer.WriteNil();
        }
        else
        {
            PackedHashesFormatter.Write(ref writer, hot.AsSpan(0, hotCount));
        }

        writer.Write(shares ? view.RunningPrefillTokens ?? -1 : -1);
        if (delta && hot is not null)
        {
            RemovedPositions.Write(ref writer, baseCount, removed);
        }
        else
        {
            writer.WriteNil();
        }

        writer.Write(shares ? view.DecodeMsPerRequest ?? -1 : -1);
        writer.Write(shares ? ReplicaDigest.ToMicros(view.DecodeStepMs) : -1);
    }

    /// <summary>A delta from <paramref name="from"/> to <paramref name="to"/>, two digests of one origin and incarnation held by a relay: the same content the origin's own delta between them would carry.</summary>
    public static byte[] Delta(DecodedDigest from, DecodedDigest to, BlockDiff diff)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        var writer = new MessagePackWriter(buffer);
        DigestHeader header = to.Header with { BaseVersion = from.Header.Version };
        Begin(ref writer, header, to.Views.Length);
        for (int i = 0; i < to.Views.Length; i++)
        {
            if (to.Summaries[i]?.Hashes is not { } hot)
            {
                Replica(ref writer, to.Views[i], shares: true, to.AgesMs[i], null, 0, 0, [], delta: false);
                continue;
            }

            ulong[] before = from.SortedHotBlocksOf(to.Views[i].Id, i);
            diff.Compute(before, hot, to.SortedHotBlocksOf(to.Views[i].Id, i));
            Replica(ref writer, to.Views[i], shares: true, to.AgesMs[i], diff.Added, diff.AddedCount, before.Length, diff.Removed, delta: true);
        }

        End(ref writer, header, to.Pending);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A whole digest with the content of <paramref name="decoded"/> (same origin, incarnation, version and time): how a node relays a digest it holds as a delta to a peer that lacks the delta's base.</summary>
    public static byte[] Whole(DecodedDigest decoded)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        var writer = new MessagePackWriter(buffer);
        DigestHeader header = decoded.Header with { BaseVersion = 0 };
        Begin(ref writer, header, decoded.Views.Length);
        for (int i = 0; i < decoded.Views.Length; i++)
        {
            ulong[]? hot = decoded.Summaries[i]?.Hashes;
            Replica(ref writer, decoded.Views[i], shares: true, decoded.AgesMs[i], hot, hot?.Length ?? 0, 0, [], delta: false);
        }

        End(ref writer, header, decoded.Pending);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }
}
