using System.Buffers;
using MessagePack;

namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// The hot blocks a delta drops, named by position: sender and receiver hold the same base set, so each dropped block
/// is its index among the base's blocks sorted by value. On the wire one binary of LEB128 numbers: the base's block
/// count (a check), how many were dropped, then the ascending positions as gaps (the first, then each less the one
/// before it, minus one): about a byte per block instead of eight.
/// </summary>
public static class RemovedPositions
{
    /// <summary>Writes <paramref name="positions"/> (ascending) of a base of <paramref name="baseCount"/> blocks as one binary.</summary>
    public static void Write(ref MessagePackWriter writer, int baseCount, ReadOnlySpan<int> positions)
    {
        int length = Leb128Length((uint)baseCount) + Leb128Length((uint)positions.Length);
        int previous = -1;
        foreach (int position in positions)
        {
            length += Leb128Length((uint)(position - previous - 1));
            previous = position;
        }

        writer.WriteBinHeader(length);
        Span<byte> bytes = writer.GetSpan(length);
        int n = Leb128(bytes, 0, (uint)baseCount);
        n = Leb128(bytes, n, (uint)positions.Length);
        previous = -1;
        foreach (int position in positions)
        {
            n = Leb128(bytes, n, (uint)(position - previous - 1));
            previous = position;
        }

        writer.Advance(n);
    }

    /// <summary>Reads the positions written by <see cref="Write"/> for a base of <paramref name="baseCount"/> blocks.</summary>
    /// <exception cref="MessagePackSerializationException">They are malformed, or were made on a base of another size.</exception>
    public static int[] Read(ReadOnlySequence<byte> encoded, int baseCount)
    {
        var reader = new SequenceReader<byte>(encoded);
        if (ReadLeb128(ref reader) != (uint)baseCount)
        {
            throw new DeltaBaseMismatchException("A delta's removed blocks were counted on a base of another size.");
        }

        uint count = ReadLeb128(ref reader);
        if (count > (uint)baseCount)
        {
            throw new MessagePackSerializationException($"A delta removes {count} of {baseCount} blocks.");
        }

        var positions = new int[count];
        long at = -1;
        for (int i = 0; i < positions.Length; i++)
        {
            at += ReadLeb128(ref reader) + 1L;
            if (at >= baseCount)
            {
                throw new MessagePackSerializationException($"A delta removes block {at} of {baseCount}.");
            }

            positions[i] = (int)at;
        }

        return positions;
    }

    private static int Leb128Length(uint value) => value < 1u << 7 ? 1 : value < 1u << 14 ? 2 : value < 1u << 21 ? 3 : value < 1u << 28 ? 4 : 5;

    private static int Leb128(Span<byte> bytes, int at, uint value)
    {
        while (value >= 0x80)
        {
            bytes[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        bytes[at++] = (byte)value;
        return at;
    }

    private static uint ReadLeb128(ref SequenceReader<byte> reader)
    {
        uint value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (!reader.TryRead(out byte b))
            {
                throw new MessagePackSerializationException("A delta's removed blocks end early.");
            }

            value |= (uint)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new MessagePackSerializationException("A delta's removed blocks hold a number too long.");
    }
}

/// <summary>A delta that does not fit the base the receiver holds (it was made on another version's blocks): ignored, not malformed.</summary>
public sealed class DeltaBaseMismatchException(string message) : MessagePackSerializationException(message);
