using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Gorgo.Routing.Hashing;

/// <summary>Computes chained block hashes of a token sequence: equal hash at block i means equal prefix up to block i.</summary>
/// <remarks>
/// Hash of block i = XXH3-64 over the little-endian bytes of block i's token ids, keyed (seeded) with the hash of block
/// i-1; the hash "before" block 0 is <see cref="Seed"/>. Keying by the previous hash makes each hash depend on the whole
/// prefix without copying it into a buffer. Nodes share prefixes only when they hash alike: all nodes of a mesh must
/// run the same chain. Only full blocks are hashed: a partial last block has no hash, like vLLM's
/// KV blocks. Instances are immutable and thread-safe.
/// </remarks>
public sealed class BlockHasher
{
    /// <summary>vLLM's default KV block size in tokens.</summary>
    public const int DefaultBlockSize = 16;

    /// <summary>Largest block size accepted.</summary>
    public const int MaxBlockSize = 4096;

    /// <summary>Creates a hasher for <paramref name="blockSize"/>-token blocks.</summary>
    public BlockHasher(int blockSize = DefaultBlockSize, ulong seed = 0)
    {
        if (blockSize is < 1 or > MaxBlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"Block size must be between 1 and {MaxBlockSize} tokens.");
        }

        BlockSize = blockSize;
        Seed = seed;
    }

    /// <summary>A hasher with the default 16-token block size and seed 0.</summary>
    public static BlockHasher Default { get; } = new();

    /// <summary>Tokens per block.</summary>
    public int BlockSize { get; }

    /// <summary>The chain's starting value (the "hash of block -1").</summary>
    public ulong Seed { get; }

    /// <summary>Number of full blocks in a prompt of <paramref name="tokenCount"/> tokens.</summary>
    public int FullBlocks(int tokenCount) => tokenCount <= 0 ? 0 : tokenCount / BlockSize;

    /// <summary>Hashes every full block of <paramref name="tokens"/> into <paramref name="destination"/>; returns the number written.</summary>
    public int Hash(ReadOnlySpan<int> tokens, Span<ulong> destination)
    {
        int blocks = FullBlocks(tokens.Length);
        if (destination.Length < blocks)
        {
            throw new ArgumentException($"Destination holds {destination.Length} hashes but {blocks} blocks are needed.", nameof(destination));
        }

        HashChain(Seed, tokens, destination[..blocks]);
        return blocks;
    }

    /// <summary>Hashes every full block of <paramref name="tokens"/> into a new array.</summary>
    public ulong[] Hash(ReadOnlySpan<int> tokens)
    {
        var hashes = new ulong[FullBlocks(tokens.Length)];
        Hash(tokens, hashes);
        return hashes;
    }

    /// <summary>Hash of one block given the hash of the block before it (or <see cref="Seed"/> for the first).</summary>
    public ulong Next(ulong previous, ReadOnlySpan<int> blockTokens)
    {
        if (blockTokens.Length != BlockSize)
        {
            throw new ArgumentException($"A block has exactly {BlockSize} tokens; got {blockTokens.Length}.", nameof(blockTokens));
        }

        Span<ulong> one = stackalloc ulong[1];
        HashChain(previous, blockTokens, one);
        return one[0];
    }

    /// <summary>Chains an opaque 64-bit value (e.g. a trace's block id) and a part number instead of token ids; used for trace inputs.</summary>
    public static ulong NextOpaque(ulong previous, ulong value, ulong part)
    {
        Span<byte> buffer = stackalloc byte[2 * sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], part);
        return XxHash64.HashToUInt64(buffer, unchecked((long)previous));
    }

    private void HashChain(ulong previous, ReadOnlySpan<int> tokens, Span<ulong> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            int blockBytes = BlockSize * sizeof(int);
            ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(tokens);
            for (int i = 0; i < destination.Length; i++)
            {
                previous = XxHash3.HashToUInt64(bytes.Slice(i * blockBytes, blockBytes), unchecked((long)previous));
                destination[i] = previous;
            }
        }
        else
        {
            HashPortable(previous, tokens, destination);
        }
    }

    /// <summary>The same chain on a big-endian machine: token ids are converted to little-endian bytes first.</summary>
    private void HashPortable(ulong previous, ReadOnlySpan<int> tokens, Span<ulong> destination)
    {
        Span<byte> buffer = stackalloc byte[BlockSize * sizeof(int)];
        for (int i = 0; i < destination.Length; i++)
        {
            for (int t = 0; t < BlockSize; t++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(buffer[(t * sizeof(int))..], tokens[(i * BlockSize) + t]);
            }

            previous = XxHash3.HashToUInt64(buffer, unchecked((long)previous));
            destination[i] = previous;
        }
    }
}
