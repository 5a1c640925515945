using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using MessagePack;

namespace Gorgo.Replica.KvEvents;

/// <summary>
/// Reads and writes KV event batches in the engines' wire format: msgpack as msgspec encodes vLLM's
/// <c>KVEventBatch</c> (<c>vllm/distributed/kv_events.py</c>; SGLang ships the same classes).
/// </summary>
/// <remarks>
/// vLLM declares its structs <c>array_like=True, omit_defaults=True</c> and its events <c>tag=True</c>, so a batch is
/// <c>[ts, [event, ...], data_parallel_rank?]</c> and an event is <c>["BlockStored", block_hashes, parent_block_hash,
/// token_ids, block_size, lora_id, medium, ...]</c>, <c>["BlockRemoved", block_hashes, medium]</c> or
/// <c>["AllBlocksCleared"]</c>. Reading also accepts the map form msgspec writes without <c>array_like</c>
/// (<c>{"ts": ..., "events": [{"type": "BlockStored", "block_hashes": ...}]}</c>), ignores fields it does not know and
/// trailing fields newer engines add, and skips events of unknown types. A block hash is an integer (64-bit, signed or
/// not) or bytes (vLLM's SHA-256 hashes); bytes are folded to 64 bits with XxHash64, which keeps them distinct for
/// identity, all the router needs. Writing uses the array form with integer hashes.
/// </remarks>
public static class KvEventCodec
{
    /// <summary>The 8-byte sequence number of the replay stream's end marker (-1).</summary>
    public const long EndOfReplay = -1;

    /// <summary>Decodes one batch payload.</summary>
    /// <exception cref="FormatException">The payload is not a KV event batch.</exception>
    public static KvEventBatch Decode(ReadOnlyMemory<byte> payload)
    {
        var reader = new MessagePackReader(payload);
        try
        {
            KvEventBatch batch = ReadBatch(ref reader);
            return batch;
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException or InvalidOperationException or OverflowException)
        {
            throw new FormatException($"Not a KV event batch: {e.Message}", e);
        }
    }

    /// <summary>Encodes a batch in vLLM's array form.</summary>
    public static byte[] Encode(KvEventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var buffer = new ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(batch.DataParallelRank is null ? 2 : 3);
        w.Write(batch.Timestamp);
        w.WriteArrayHeader(batch.Events.Count);
        foreach (KvEvent e in batch.Events)
        {
            WriteEvent(ref w, e);
        }

        if (batch.DataParallelRank is { } rank)
        {
            w.Write(rank);
        }

        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The 8-byte big-endian frame of a sequence number.</summary>
    public static byte[] SequenceFrame(long sequence)
    {
        var frame = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(frame, sequence);
        return frame;
    }

    /// <summary>Reads an 8-byte big-endian sequence frame.</summary>
    /// <exception cref="FormatException">The frame is not 8 bytes.</exception>
    public static long ReadSequence(ReadOnlySpan<byte> frame) =>
        frame.Length == 8 ? BinaryPrimitives.ReadInt64BigEndian(frame) : throw new FormatException($"A sequence frame has 8 bytes; got {frame.Length}.");

    private static KvEventBatch ReadBatch(ref MessagePackReader r)
    {
        double ts = 0;
        List<KvEvent>? events = null;
        int? rank = null;
        if (r.NextMessagePackType == MessagePackType.Array)
        {
            int n = r.ReadArrayHeader();
            for (int i = 0; i < n; i++)
            {
                switch (i)
                {
                    case 0: ts = ReadNumber(ref r); break;
                    case 1: events = ReadEvents(ref r); break;
                    case 2: rank = ReadNullableInt(ref r); break;
                    default: r.Skip(); break;
                }
            }
        }
        else if (r.NextMessagePackType == MessagePackType.Map)
        {
            int n = r.ReadMapHeader();
            for (int i = 0; i < n; i++)
            {
                switch (r.ReadString())
                {
                    case "ts": ts = ReadNumber(ref r); break;
                    case "events": events = ReadEvents(ref r); break;
                    case "data_parallel_rank": rank = ReadNullableInt(ref r); break;
                    default: r.Skip(); break;
                }
            }
        }
        else
        {
            throw new FormatException($"A batch is an array or a map; got {r.NextMessagePackType}.");
        }

        if (!r.End)
        {
            throw new FormatException("Bytes follow the batch.");
        }

        return new KvEventBatch(ts, events ?? throw new FormatException("The batch has no events field."), rank);
    }

    private static List<KvEvent> ReadEvents(ref MessagePackReader r)
    {
        int n = r.ReadArrayHeader();
        var events = new List<KvEvent>(n);
        for (int i = 0; i < n; i++)
        {
            if (ReadEvent(ref r) is { } e)
            {
                events.Add(e);
            }
        }

        return events;
    }

    private static KvEvent? ReadEvent(ref MessagePackReader r)
    {
        var f = new EventFields();
        if (r.NextMessagePackType == MessagePackType.Array)
        {
            int n = r.ReadArrayHeader();
            if (n == 0)
            {
                throw new FormatException("An event array has no tag.");
            }

            f.Type = r.ReadString();
            string[] order = f.Type switch
            {
                "BlockStored" => ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium"],
                "BlockRemoved" => ["block_hashes", "medium"],
                _ => [],
            };
            for (int i = 1; i < n; i++)
            {
                if (i - 1 < order.Length)
                {
                    f.Read(order[i - 1], ref r);
                }
                else
                {
                    r.Skip();
                }
            }
        }
        else if (r.NextMessagePackType == MessagePackType.Map)
        {
            int n = r.ReadMapHeader();
            for (int i = 0; i < n; i++)
            {
                string? key = r.ReadString();
                if (key == "type")
                {
                    f.Type = r.ReadString();
                }
                else
                {
                    f.Read(key, ref r);
                }
            }
        }
        else
        {
            throw new FormatException($"An event is an array or a map; got {r.NextMessagePackType}.");
        }

        return f.Build();
    }

    private static void WriteEvent(ref MessagePackWriter w, KvEvent e)
    {
        switch (e)
        {
            case KvBlockStored s:
                w.WriteArrayHeader(7);
                w.Write("BlockStored");
                WriteHashes(ref w, s.BlockHashes);
                if (s.ParentBlockHash is { } parent)
                {
                    w.Write(parent);
                }
                else
                {
                    w.WriteNil();
                }

                w.WriteArrayHeader(s.TokenIds.Length);
                foreach (int t in s.TokenIds)
                {
                    w.Write(t);
                }

                w.Write(s.BlockSize);
                WriteNullable(ref w, s.LoraId);
                WriteNullable(ref w, s.Medium);
                break;
            case KvBlockRemoved removed:
                w.WriteArrayHeader(3);
                w.Write("BlockRemoved");
                WriteHashes(ref w, removed.BlockHashes);
                WriteNullable(ref w, removed.Medium);
                break;
            case KvAllBlocksCleared:
                w.WriteArrayHeader(1);
                w.Write("AllBlocksCleared");
                break;
            default:
                throw new ArgumentException($"Unknown event {e.GetType().Name}.", nameof(e));
        }
    }

    private static void WriteHashes(ref MessagePackWriter w, ulong[] hashes)
    {
        w.WriteArrayHeader(hashes.Length);
        foreach (ulong h in hashes)
        {
            w.Write(h);
        }
    }

    private static void WriteNullable(ref MessagePackWriter w, long? value)
    {
        if (value is { } v)
        {
            w.Write(v);
        }
        else
        {
            w.WriteNil();
        }
    }

    private static void WriteNullable(ref MessagePackWriter w, string? value)
    {
        if (value is null)
        {
            w.WriteNil();
        }
        else
        {
            w.Write(value);
        }
    }

    private static double ReadNumber(ref MessagePackReader r) => r.NextMessagePackType switch
    {
        MessagePackType.Float => r.ReadDouble(),
        MessagePackType.Integer => r.ReadInt64(),
        _ => throw new FormatException($"Expected a number; got {r.NextMessagePackType}."),
    };

    private static int? ReadNullableInt(ref MessagePackReader r) => r.TryReadNil() ? null : r.ReadInt32();

    /// <summary>A block hash: an integer (signed or unsigned 64-bit, kept bit for bit) or bytes (folded with XxHash64).</summary>
    internal static ulong ReadHash(ref MessagePackReader r)
    {
        switch (r.NextMessagePackType)
        {
            case MessagePackType.Integer:
                return r.NextCode == MessagePackCode.UInt64 ? r.ReadUInt64() : unchecked((ulong)r.ReadInt64());
            case MessagePackType.Binary:
                ReadOnlySequence<byte> bytes = r.ReadBytes() ?? default;
                return FoldBytes(bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray());
            default:
                throw new FormatException($"A block hash is an integer or bytes; got {r.NextMessagePackType}.");
        }
    }

    /// <summary>The 64-bit identity of a byte hash.</summary>
    public static ulong FoldBytes(ReadOnlySpan<byte> hash) => XxHash64.HashToUInt64(hash);

    /// <summary>The fields of one event as read, in either form.</summary>
    private ref struct EventFields
    {
        public string? Type;
        public ulong[]? Hashes;
        public ulong? Parent;
        public int[]? Tokens;
        public int BlockSize;
        public long? Lora;
        public string? Medium;

        public void Read(string? key, ref MessagePackReader r)
        {
            switch (key)
            {
                case "block_hashes":
                    int n = r.ReadArrayHeader();
                    Hashes = new ulong[n];
                    for (int i = 0; i < n; i++)
                    {
                        Hashes[i] = ReadHash(ref r);
                    }

                    break;
                case "parent_block_hash":
                    Parent = r.TryReadNil() ? null : ReadHash(ref r);
                    break;
                case "token_ids":
                    int t = r.ReadArrayHeader();
                    Tokens = new int[t];
                    for (int i = 0; i < t; i++)
                    {
                        Tokens[i] = r.ReadInt32();
                    }

                    break;
                case "block_size":
                    BlockSize = r.ReadInt32();
                    break;
                case "lora_id":
                    Lora = r.TryReadNil() ? null : r.ReadInt64();
                    break;
                case "medium":
                    Medium = r.TryReadNil() ? null : r.ReadString();
                    break;
                default:
                    r.Skip();
                    break;
            }
        }

        public readonly KvEvent? Build()
        {
            switch (Type)
            {
                case "BlockStored":
                    ulong[] hashes = Hashes ?? throw new FormatException("BlockStored has no block_hashes.");
                    int[] tokens = Tokens ?? throw new FormatException("BlockStored has no token_ids.");
                    if (BlockSize < 1)
                    {
                        throw new FormatException($"BlockStored has block_size {BlockSize}.");
                    }

                    if (tokens.Length != (long)hashes.Length * BlockSize)
                    {
                        throw new FormatException($"BlockStored has {hashes.Length} blocks of {BlockSize} tokens but {tokens.Length} token ids.");
                    }

                    return new KvBlockStored(hashes, Parent, tokens, BlockSize, Lora, Medium);
                case "BlockRemoved":
                    return new KvBlockRemoved(Hashes ?? throw new FormatException("BlockRemoved has no block_hashes."), Medium);
                case "AllBlocksCleared":
                    return new KvAllBlocksCleared();
                case null:
                    throw new FormatException("An event has no type tag.");
                default:
                    return null;
            }
        }
    }
}
