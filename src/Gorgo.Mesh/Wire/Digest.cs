using System.Buffers.Binary;
using MessagePack;

namespace Gorgo.Mesh.Wire;

/// <summary>A region's versioned summary of its replicas: load, capacity and the hottest prefix blocks. Sent with MessagePack.</summary>
[MessagePackObject]
public sealed class Digest
{
    /// <summary>The region that made it.</summary>
    [Key(0)] public string Origin { get; set; } = string.Empty;

    /// <summary>When the origin node started (Unix ms): a restarted node's versions start again from 1.</summary>
    [Key(1)] public long Incarnation { get; set; }

    /// <summary>Increases with every digest the origin makes.</summary>
    [Key(2)] public long Version { get; set; }

    /// <summary>When it was made (Unix ms, origin's clock).</summary>
    [Key(3)] public long CreatedAtUnixMs { get; set; }

    /// <summary>The origin's replicas.</summary>
    [Key(4)] public ReplicaDigest[] Replicas { get; set; } = [];

    /// <summary>Whether this digest is newer than one with the given incarnation and version.</summary>
    public bool IsNewerThan(long incarnation, long version) => Incarnation > incarnation || (Incarnation == incarnation && Version > version);
}

/// <summary>One replica in a <see cref="Digest"/>.</summary>
[MessagePackObject]
public sealed class ReplicaDigest
{
    /// <summary>Replica id.</summary>
    [Key(0)] public string Id { get; set; } = string.Empty;

    /// <summary>Model served.</summary>
    [Key(1)] public string Model { get; set; } = string.Empty;

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

    /// <summary>Hottest cached block hashes, most recent first, packed little-endian (8 bytes each); null when not shared.</summary>
    [Key(13)] public byte[]? HotBlocks { get; set; }

    /// <summary>Prompt tokens of running requests not yet prefilled; -1 when the replica does not report it.</summary>
    [Key(14)] public long RunningPrefillTokens { get; set; } = -1;

    /// <summary>Packs block hashes for <see cref="HotBlocks"/>.</summary>
    public static byte[] Pack(ReadOnlySpan<ulong> hashes)
    {
        var bytes = new byte[hashes.Length * sizeof(ulong)];
        for (int i = 0; i < hashes.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * sizeof(ulong)), hashes[i]);
        }

        return bytes;
    }

    /// <summary>Unpacks <see cref="HotBlocks"/>.</summary>
    public ulong[] UnpackHotBlocks()
    {
        if (HotBlocks is null)
        {
            return [];
        }

        var hashes = new ulong[HotBlocks.Length / sizeof(ulong)];
        for (int i = 0; i < hashes.Length; i++)
        {
            hashes[i] = BinaryPrimitives.ReadUInt64LittleEndian(HotBlocks.AsSpan(i * sizeof(ulong)));
        }

        return hashes;
    }
}

/// <summary>One gossip exchange: the sender's digests and what it already knows, so the receiver returns only newer ones.</summary>
[MessagePackObject]
public sealed class GossipMessage
{
    /// <summary>Digests carried (the sender's own, and on replies any the requester lacks).</summary>
    [Key(0)] public Digest[] Digests { get; set; } = [];

    /// <summary>Origin → [incarnation, version] of every digest the sender holds.</summary>
    [Key(1)] public Dictionary<string, long[]> Known { get; set; } = [];
}

/// <summary>MessagePack encoding of gossip payloads.</summary>
public static class GossipCodec
{
    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>Encodes a message.</summary>
    public static byte[] Encode<T>(T message) => MessagePackSerializer.Serialize(message, Options);

    /// <summary>Decodes a message; throws MessagePack's serialization exception for bad input.</summary>
    public static T Decode<T>(byte[] bytes) => MessagePackSerializer.Deserialize<T>(bytes, Options);
}
