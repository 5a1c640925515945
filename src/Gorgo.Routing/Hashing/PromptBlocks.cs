namespace Gorgo.Routing.Hashing;

/// <summary>A prompt as the router sees it: its token count and the chained hashes of its full blocks.</summary>
/// <remarks>A value type over caller-owned memory, so a hot path can reuse one hash buffer per request.</remarks>
public readonly struct PromptBlocks
{
    /// <summary>Wraps already-computed block hashes.</summary>
    public PromptBlocks(ReadOnlyMemory<ulong> hashes, int tokenCount, int blockSize)
    {
        if (blockSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "Block size must be positive.");
        }

        if (tokenCount < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, "Token count cannot be negative.");
        }

        if (tokenCount / blockSize != hashes.Length)
        {
            throw new ArgumentException($"A prompt of {tokenCount} tokens has {tokenCount / blockSize} full blocks of {blockSize}; got {hashes.Length} hashes.", nameof(hashes));
        }

        Hashes = hashes;
        TokenCount = tokenCount;
        BlockSize = blockSize;
    }

    /// <summary>Chained hashes of the full blocks, first block first.</summary>
    public ReadOnlyMemory<ulong> Hashes { get; }

    /// <summary>Prompt length in tokens, including the partial last block.</summary>
    public int TokenCount { get; }

    /// <summary>Tokens per block.</summary>
    public int BlockSize { get; }

    /// <summary>Number of full (hashed) blocks.</summary>
    public int BlockCount => Hashes.Length;

    /// <summary>Hashes the full blocks of <paramref name="tokens"/> with <paramref name="hasher"/>.</summary>
    public static PromptBlocks FromTokens(ReadOnlySpan<int> tokens, BlockHasher hasher)
    {
        ArgumentNullException.ThrowIfNull(hasher);
        return new PromptBlocks(hasher.Hash(tokens), tokens.Length, hasher.BlockSize);
    }
}
