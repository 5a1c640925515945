using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MessagePack;
using System.Text;
using MessagePack.Formatters;

namespace Gorgo.Mesh.Core.Wire;

/// <summary>A region's versioned summary of its replicas: load, capacity and the hottest prefix blocks. Sent with MessagePack.</summary>
[MessagePackObject]
public sealed class Digest
{
    /// <summary>The region that made it.</summary>
    [Key(0), MessagePackFormatter(typeof(NameFormatter))] public string Origin { get; set; } = string.Empty;

    /// <summary>When the origin node started (Unix ms): a restarted node's versions start again from 1.</summary>
    [Key(1)] public long Incarnation { get; set; }

    /// <summary>Increases with every digest the origin makes.</summary>
    [Key(2)] public long Version { get; set; }

    /// <summary>When it was made (Unix ms, origin's clock).</summary>
    [Key(3)] public long CreatedAtUnixMs { get; set; }

    /// <summary>The origin's replicas.</summary>
    [Key(4)] public ReplicaDigest[] Replicas { get; set; } = [];

    /// <summary>0 for a whole digest; else a delta: only what changed since the origin's digest of this version (same incarnation), which the receiver must hold.</summary>
    [Key(5)] public long BaseVersion { get; set; }

    /// <summary>Requests the origin's router has on their way to replicas (any region's) that its view of them does not reflect yet: other routers count them in those replicas' queues.</summary>
    [Key(6)] public PendingDigest[] Pending { get; set; } = [];

    /// <summary>Its origin, incarnation, version, time and base.</summary>
    [IgnoreMember]
    public DigestHeader Header => new(Origin, Incarnation, Version, CreatedAtUnixMs, BaseVersion);
}

/// <summary>One pending request in a <see cref="Digest"/>: where it went, when it arrives there, its tokens to prefill.</summary>
[MessagePackObject]
public sealed class PendingDigest
{
    /// <summary>The replica it went to.</summary>
    [Key(0), MessagePackFormatter(typeof(NameFormatter))] public string ReplicaId { get; set; } = string.Empty;

    /// <summary>When it reaches the replica (Unix ms, the origin's clock).</summary>
    [Key(1)] public long ArrivesAtUnixMs { get; set; }

    /// <summary>Its prompt tokens to prefill.</summary>
    [Key(2)] public long Tokens { get; set; }
}

/// <summary>One replica in a <see cref="Digest"/>.</summary>
[MessagePackObject]
public sealed class ReplicaDigest
{
    /// <summary>Replica id.</summary>
    [Key(0), MessagePackFormatter(typeof(NameFormatter))] public string Id { get; set; } = string.Empty;

    /// <summary>Model served.</summary>
    [Key(1), MessagePackFormatter(typeof(NameFormatter))] public string Model { get; set; } = string.Empty;

    /// <summary>Health (the routing core's <c>ReplicaHealth</c> as an int).</summary>
    [Key(2)] public int Health { get; set; }

    /// <summary>Running requests.</summary>
    [Key(3)] public int Running { get; set; }

    /// <summary>Queued requests.</summary>
    [Key(4)] public int Queued { get; set; }

    /// <summary>Prompt tokens of running requests.</summary>
    [Key(5)] public long RunningTokens { get; set; }

    /// <summary>Prompt tokens of queued requests.</summary>
    [Key(6)] public long QueuedTokens { get; set; }

    /// <summary>KV-cache utilisation.</summary>
    [Key(7)] public double KvUtilization { get; set; }

    /// <summary>t_p, ms per token.</summary>
    [Key(8)] public double PrefillMsPerToken { get; set; }

    /// <summary>Batch cap.</summary>
    [Key(9)] public int MaxRunning { get; set; }

    /// <summary>Queue cap (0 = unbounded).</summary>
    [Key(10)] public int MaxQueued { get; set; }

    /// <summary>Context length.</summary>
    [Key(11)] public int MaxContextTokens { get; set; }

    /// <summary>Age of the load figures when the digest was made, ms.</summary>
    [Key(12)] public long AgeMs { get; set; }

    /// <summary>Hottest cached block hashes, most recent first (on the wire: one binary of 8 little-endian bytes each); in a delta, only those added since the base; null when not shared.</summary>
    [Key(13), MessagePackFormatter(typeof(PackedHashesFormatter))] public ulong[]? HotBlocks { get; set; }

    /// <summary>Prompt tokens of running requests not yet prefilled; -1 when the replica does not report it.</summary>
    [Key(14)] public long RunningPrefillTokens { get; set; } = -1;

    /// <summary>In a delta: which of the base's hot blocks were dropped, as positions among them sorted by value (<see cref="RemovedPositions"/>); null in a whole digest.</summary>
    [Key(15)] public byte[]? RemovedBlocks { get; set; }

    /// <summary>How long a request holds a batch slot after its first token, ms; -1 when the replica does not report it.</summary>
    [Key(16)] public double DecodeMsPerRequest { get; set; } = -1;

    /// <summary>How long one decode step takes, in whole microseconds (a small integer on the wire); -1 when the replica does not report it.</summary>
    [Key(17)] public int DecodeStepMicros { get; set; } = -1;

    /// <summary>A decode step in ms as <see cref="DecodeStepMicros"/> carries it: whole microseconds, -1 when unknown.</summary>
    public static int ToMicros(double? stepMs) => stepMs is { } ms && double.IsFinite(ms) && ms >= 0 ? (int)Math.Min(int.MaxValue, Math.Round(ms * 1000)) : -1;
}

/// <summary>
/// One gossip exchange: digests, each encoded on its own (a node relays a third region's digest as the bytes it
/// received, and a receiver decodes only those newer than what it holds), and the versions the sender holds, so the
/// receiver returns only newer ones. Read with <see cref="GossipCodec.ReadMessage(System.Buffers.ReadOnlySequence{byte})"/>, which does not copy the digests.
/// </summary>
[MessagePackObject]
public sealed class GossipMessage
{
    /// <summary>Encoded <see cref="Digest"/>s carried (the sender's own first, and on replies any the requester lacks).</summary>
    [Key(0)] public byte[][] Digests { get; set; } = [];

    /// <summary>The origins of the digests the sender holds, parallel to <see cref="KnownVersions"/>.</summary>
    [Key(1)] public string[] KnownOrigins { get; set; } = [];

    /// <summary>Incarnation and version of each digest in <see cref="KnownOrigins"/>: two numbers per origin.</summary>
    [Key(2)] public long[] KnownVersions { get; set; } = [];

    /// <summary>The region that sent it.</summary>
    [Key(3)] public string? Sender { get; set; }

    /// <summary>When each digest in <see cref="KnownOrigins"/> was made (its origin's clock): how far behind the sender is, for relays.</summary>
    [Key(4)] public long[] KnownCreatedAt { get; set; } = [];

    /// <summary>Whether the sender takes part in delta gossip: it decodes deltas, and its peers may send it only what changed.</summary>
    [Key(5)] public bool AcceptsDeltas { get; set; }
}

/// <summary>A <see cref="GossipMessage"/> as read: its digests are slices of the message's bytes, copied only when kept.</summary>
public sealed class ReceivedGossip
{
    /// <summary>The encoded digests carried.</summary>
    public List<ReadOnlyMemory<byte>> Digests { get; } = [];

    /// <summary>Origins of the digests the sender holds.</summary>
    public string[] KnownOrigins { get; set; } = [];

    /// <summary>Incarnation and version of each, two numbers per origin.</summary>
    public long[] KnownVersions { get; set; } = [];

    /// <summary>The region that sent it, when it says.</summary>
    public string? Sender { get; set; }

    /// <summary>When each digest the sender holds was made, parallel to <see cref="KnownOrigins"/> (empty from a sender that does not say).</summary>
    public long[] KnownCreatedAt { get; set; } = [];

    /// <summary>Whether the sender takes part in delta gossip.</summary>
    public bool AcceptsDeltas { get; set; }

    /// <summary>The incarnation and version of the sender's digest from <paramref name="origin"/>, if it holds one.</summary>
    public bool TryGetKnown(string origin, out long incarnation, out long version) => TryGetKnown(origin, out incarnation, out version, out _);

    /// <summary>The incarnation, version and creation time (<see cref="long.MinValue"/> when the sender does not say) of the sender's digest from <paramref name="origin"/>, if it holds one.</summary>
    public bool TryGetKnown(string origin, out long incarnation, out long version, out long createdAtUnixMs)
    {
        for (int i = 0; i < KnownOrigins.Length && (2 * i) + 1 < KnownVersions.Length; i++)
        {
            if (string.Equals(KnownOrigins[i], origin, StringComparison.Ordinal))
            {
                incarnation = KnownVersions[2 * i];
                version = KnownVersions[(2 * i) + 1];
                createdAtUnixMs = i < KnownCreatedAt.Length ? KnownCreatedAt[i] : long.MinValue;
                return true;
            }
        }

        incarnation = version = 0;
        createdAtUnixMs = long.MinValue;
        return false;
    }
}

/// <summary>The identity of an encoded digest, read without decoding its replicas.</summary>
/// <param name="Origin">The region that made it.</param>
/// <param name="Incarnation">When the origin node started.</param>
/// <param name="Version">The origin's digest counter.</param>
/// <param name="CreatedAtUnixMs">When it was made.</param>
/// <param name="BaseVersion">0 for a whole digest; for a delta, the version of the origin's digest it changes.</param>
public readonly record struct DigestHeader(string Origin, long Incarnation, long Version, long CreatedAtUnixMs, long BaseVersion = 0)
{
    /// <summary>Whether this digest is newer than one with the given incarnation and version.</summary>
    public bool IsNewerThan(long incarnation, long version) => Incarnation > incarnation || (Incarnation == incarnation && Version > version);

    /// <summary>Whether it is a delta (only what changed since <see cref="BaseVersion"/>).</summary>
    public bool IsDelta => BaseVersion != 0;
}

/// <summary>MessagePack encoding of gossip payloads (untrusted input: a malformed payload is a <see cref="MessagePackSerializationException"/>).</summary>
public static class GossipCodec
{
    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);
    private static readonly NameFormatter Names = new();

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_digest;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_message;

    /// <summary>Encodes a message.</summary>
    public static byte[] Encode<T>(T message) => MessagePackSerializer.Serialize(message, Options);

    /// <summary>Decodes a message; throws MessagePack's serialization exception for bad input.</summary>
    public static T Decode<T>(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return MessagePackSerializer.Deserialize<T>(bytes, Options);
        }
        catch (Exception ex) when (IsMalformed(ex))
        {
            throw Malformed(ex);
        }
    }

    /// <summary>The calling thread's buffer for writing a digest, emptied.</summary>
    internal static ArrayBufferWriter<byte> DigestBuffer()
    {
        ArrayBufferWriter<byte> buffer = t_digest ??= new ArrayBufferWriter<byte>(16 * 1024);
        buffer.ResetWrittenCount();
        return buffer;
    }

    /// <summary>
    /// Encodes a <see cref="GossipMessage"/> carrying the encoded digest <paramref name="own"/>, then
    /// <paramref name="relayed"/> digests as they were received. The message is the bytes a <see cref="GossipMessage"/>
    /// serializes to, as a sequence of segments: the framing (headers, lengths, the version map) and the own digest are
    /// copied once; relayed digests are not copied at all. A driver that needs one array calls <c>ToArray()</c>.
    /// </summary>
    public static ReadOnlySequence<byte> EncodeMessage(ReadOnlySpan<byte> own, IReadOnlyList<ReadOnlyMemory<byte>> relayed, string[] knownOrigins, long[] knownVersions, string sender, long[]? knownCreatedAt = null, bool acceptsDeltas = false)
    {
        ArgumentNullException.ThrowIfNull(relayed);
        ArgumentNullException.ThrowIfNull(knownOrigins);
        ArgumentNullException.ThrowIfNull(knownVersions);
        ArrayBufferWriter<byte> framing = t_message ??= new ArrayBufferWriter<byte>(4 * 1024);
        framing.ResetWrittenCount();
        Span<int> cuts = relayed.Count < 64 ? stackalloc int[relayed.Count + 1] : new int[relayed.Count + 1];

        // The layout of GossipMessage: [digests, knownOrigins, knownVersions, sender, knownCreatedAt, acceptsDeltas]; each digest is a binary.
        var writer = new MessagePackWriter(framing);
        writer.WriteArrayHeader(6);
        writer.WriteArrayHeader(1 + relayed.Count);
        writer.WriteBinHeader(own.Length);
        writer.Flush();
        cuts[0] = framing.WrittenCount;
        for (int i = 0; i < relayed.Count; i++)
        {
            writer = new MessagePackWriter(framing);
            writer.WriteBinHeader(relayed[i].Length);
            writer.Flush();
            cuts[i + 1] = framing.WrittenCount;
        }

        writer = new MessagePackWriter(framing);
        writer.WriteArrayHeader(knownOrigins.Length);
        foreach (string origin in knownOrigins)
        {
            writer.Write(origin);
        }

        writer.WriteArrayHeader(knownVersions.Length);
        foreach (long version in knownVersions)
        {
            writer.Write(version);
        }

        writer.Write(sender);
        knownCreatedAt ??= [];
        writer.WriteArrayHeader(knownCreatedAt.Length);
        foreach (long createdAt in knownCreatedAt)
        {
            writer.Write(createdAt);
        }

        writer.Write(acceptsDeltas);
        writer.Flush();

        byte[] frame = framing.WrittenSpan.ToArray();
        var first = new Segment(frame.AsMemory(0, cuts[0]), 0);
        Segment last = first.Append(own.ToArray());
        for (int i = 0; i < relayed.Count; i++)
        {
            last = last.Append(frame.AsMemory(cuts[i], cuts[i + 1] - cuts[i])).Append(relayed[i]);
        }

        last = last.Append(frame.AsMemory(cuts[relayed.Count]));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Reads a <see cref="GossipMessage"/> without copying its digests (they stay slices of <paramref name="bytes"/>).</summary>
    public static ReceivedGossip ReadMessage(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return ReadMessage(new ReadOnlySequence<byte>(bytes));
    }

    /// <summary>Reads a <see cref="GossipMessage"/> without copying its digests where each lies in one segment (they stay slices of <paramref name="bytes"/>).</summary>
    public static ReceivedGossip ReadMessage(ReadOnlySequence<byte> bytes)
    {
        try
        {
            var message = new ReceivedGossip();
            var reader = new MessagePackReader(bytes);
            int fields = reader.ReadArrayHeader();
            for (int field = 0; field < fields; field++)
            {
                switch (field)
                {
                    case 0 when !reader.TryReadNil():
                        for (int i = reader.ReadArrayHeader(); i > 0; i--)
                        {
                            ReadOnlySequence<byte> digest = reader.ReadBytes() ?? throw new MessagePackSerializationException("A gossip message's digest is nil.");
                            message.Digests.Add(digest.IsSingleSegment ? digest.First : digest.ToArray());
                        }

                        break;
                    case 1 when !reader.TryReadNil():
                        message.KnownOrigins = new string[reader.ReadArrayHeader()];
                        for (int i = 0; i < message.KnownOrigins.Length; i++)
                        {
                            message.KnownOrigins[i] = Names.Deserialize(ref reader, Options) ?? string.Empty;
                        }

                        break;
                    case 2 when !reader.TryReadNil():
                        message.KnownVersions = new long[reader.ReadArrayHeader()];
                        for (int i = 0; i < message.KnownVersions.Length; i++)
                        {
                            message.KnownVersions[i] = reader.ReadInt64();
                        }

                        break;
                    case 3:
                        message.Sender = Names.Deserialize(ref reader, Options);
                        break;
                    case 4 when !reader.TryReadNil():
                        message.KnownCreatedAt = new long[reader.ReadArrayHeader()];
                        for (int i = 0; i < message.KnownCreatedAt.Length; i++)
                        {
                            message.KnownCreatedAt[i] = reader.ReadInt64();
                        }

                        break;
                    case 5:
                        message.AcceptsDeltas = reader.ReadBoolean();
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }

            return message;
        }
        catch (Exception ex) when (IsMalformed(ex))
        {
            throw Malformed(ex);
        }
    }

    /// <summary>Reads an encoded digest's origin, incarnation, version, time and base without decoding its replicas.</summary>
    public static DigestHeader PeekHeader(ReadOnlyMemory<byte> digest)
    {
        try
        {
            var reader = new MessagePackReader(digest);
            int fields = reader.ReadArrayHeader();
            if (fields < 4)
            {
                throw new MessagePackSerializationException("A digest has at least four fields.");
            }

            string origin = Names.Deserialize(ref reader, Options) ?? throw new MessagePackSerializationException("A digest has an origin.");
            long incarnation = reader.ReadInt64(), version = reader.ReadInt64(), createdAt = reader.ReadInt64();
            long baseVersion = 0;
            if (fields > 5)
            {
                reader.Skip(); // the replicas
                baseVersion = reader.ReadInt64();
            }

            return new DigestHeader(origin, incarnation, version, createdAt, baseVersion);
        }
        catch (Exception ex) when (IsMalformed(ex))
        {
            throw Malformed(ex);
        }
    }

    private static bool IsMalformed(Exception ex) =>
        ex is not MessagePackSerializationException and (InvalidOperationException or EndOfStreamException or OverflowException or ArgumentException);

    private static MessagePackSerializationException Malformed(Exception ex) => new("A gossip payload is malformed.", ex);
}

/// <summary>Writes block hashes as one MessagePack binary of 8 little-endian bytes each, and reads them back without an intermediate copy.</summary>
public sealed class PackedHashesFormatter : IMessagePackFormatter<ulong[]?>
{
    /// <inheritdoc />
    public void Serialize(ref MessagePackWriter writer, ulong[]? value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        Write(ref writer, value);
    }

    /// <summary>Writes <paramref name="hashes"/> as one binary of 8 little-endian bytes each.</summary>
    public static void Write(ref MessagePackWriter writer, ReadOnlySpan<ulong> hashes)
    {
        int length = hashes.Length * sizeof(ulong);
        writer.WriteBinHeader(length);
        Span<byte> span = writer.GetSpan(length)[..length];
        for (int i = 0; i < hashes.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[(i * sizeof(ulong))..], hashes[i]);
        }

        writer.Advance(length);
    }

    /// <inheritdoc />
    public ulong[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return null;
        }

        ReadOnlySequence<byte> bytes = reader.ReadBytes() ?? throw new MessagePackSerializationException("Hot blocks are nil.");
        if (bytes.Length % sizeof(ulong) != 0)
        {
            throw new MessagePackSerializationException($"Hot blocks take 8 bytes each (got {bytes.Length}).");
        }

        var hashes = new ulong[bytes.Length / sizeof(ulong)];
        bytes.CopyTo(MemoryMarshal.AsBytes(hashes.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.ReverseEndianness(hashes, hashes);
        }

        return hashes;
    }
}

/// <summary>
/// Reads the names gossip repeats (regions, replica ids, models) as one shared string each, found by their UTF-8
/// bytes without decoding or allocating; at most <see cref="MaxNames"/> names are kept (untrusted input cannot grow
/// the table further), longer or later ones are read as new strings.
/// </summary>
public sealed class NameFormatter : IMessagePackFormatter<string?>
{
    /// <summary>Names kept at most.</summary>
    public const int MaxNames = 65_536;

    private const int MaxNameBytes = 256;
    private const int Probes = 8;
    private static readonly Name?[] Table = new Name?[MaxNames];

    /// <inheritdoc />
    public void Serialize(ref MessagePackWriter writer, string? value, MessagePackSerializerOptions options) => writer.Write(value);

    /// <inheritdoc />
    public string? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return null;
        }

        if (!reader.TryReadStringSpan(out ReadOnlySpan<byte> utf8))
        {
            return reader.ReadString(); // not contiguous
        }

        if (utf8.Length > MaxNameBytes)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        int start = (int)(System.IO.Hashing.XxHash3.HashToUInt64(utf8) & (MaxNames - 1));
        for (int probe = 0; probe < Probes; probe++)
        {
            int at = (start + probe) & (MaxNames - 1);
            Name? name = Volatile.Read(ref Table[at]);
            if (name is null)
            {
                var fresh = new Name(utf8.ToArray(), Encoding.UTF8.GetString(utf8));
                Name? raced = Interlocked.CompareExchange(ref Table[at], fresh, null);
                return raced is null || !raced.Utf8.AsSpan().SequenceEqual(utf8) ? fresh.Value : raced.Value;
            }

            if (name.Utf8.AsSpan().SequenceEqual(utf8))
            {
                return name.Value;
            }
        }

        return Encoding.UTF8.GetString(utf8); // the neighbourhood is full
    }

    private sealed record Name(byte[] Utf8, string Value);
}

/// <summary>One piece of a gossip message made of segments.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>Links the next piece after this one.</summary>
    public Segment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new Segment(memory, RunningIndex + Memory.Length);
        Next = next;
        return next;
    }
}
