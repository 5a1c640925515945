namespace Gorgo.Routing.Hashing;

/// <summary>Turns trace prompts that carry only block ids (Mooncake's 512-token <c>hash_ids</c>) into router block hashes.</summary>
/// <remarks>
/// Each trace block of <c>traceBlockSize</c> tokens becomes <c>traceBlockSize / blockSize</c> router blocks whose chained
/// hashes derive from the trace ids, so two trace prompts with equal leading ids get equal leading router hashes and
/// prefix sharing is reproduced exactly. The last trace block may be partial; only its full router blocks are hashed.
/// </remarks>
public static class TraceBlocks
{
    /// <summary>Mooncake's trace block size in tokens.</summary>
    public const int MooncakeBlockSize = 512;

    /// <summary>Builds the router's view of a trace prompt of <paramref name="inputLength"/> tokens.</summary>
    public static PromptBlocks FromTraceIds(ReadOnlySpan<ulong> traceIds, int inputLength, BlockHasher hasher, int traceBlockSize = MooncakeBlockSize)
    {
        ArgumentNullException.ThrowIfNull(hasher);
        if (inputLength <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(inputLength), inputLength, "A trace prompt must have at least one token.");
        }

        if (traceBlockSize < hasher.BlockSize || traceBlockSize % hasher.BlockSize != 0)
        {
            throw new ArgumentException($"The trace block size ({traceBlockSize}) must be a multiple of the router block size ({hasher.BlockSize}).", nameof(traceBlockSize));
        }

        int expectedIds = (int)(((long)inputLength + traceBlockSize - 1) / traceBlockSize);
        if (traceIds.Length != expectedIds)
        {
            throw new ArgumentException($"A trace prompt of {inputLength} tokens in {traceBlockSize}-token blocks needs {expectedIds} block ids; got {traceIds.Length}.", nameof(traceIds));
        }

        int partsPerTraceBlock = traceBlockSize / hasher.BlockSize;
        var hashes = new ulong[hasher.FullBlocks(inputLength)];
        ulong previous = hasher.Seed;
        for (int b = 0; b < hashes.Length; b++)
        {
            int traceIndex = b / partsPerTraceBlock;
            previous = BlockHasher.NextOpaque(previous, traceIds[traceIndex], (ulong)(b % partsPerTraceBlock));
            hashes[b] = previous;
        }

        return new PromptBlocks(hashes, inputLength, hasher.BlockSize);
    }
}
