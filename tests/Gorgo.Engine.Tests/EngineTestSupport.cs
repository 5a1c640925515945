using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Routing.Hashing;

namespace Gorgo.Engine.Tests;

internal static class EngineTestSupport
{
    public static readonly BlockHasher Hasher = new(16);

    /// <summary>A small, round-numbered profile so expected times are easy to compute by hand.</summary>
    public static EngineProfile Simple(int maxRunning = 8, int kvBlocks = 4_096, int chunk = 4_096, int budget = 4_096, double k = 0) => new()
    {
        Name = "test",
        BlockSize = 16,
        MaxRunningRequests = maxRunning,
        MaxBatchedTokens = budget,
        PrefillChunkTokens = chunk,
        KvCapacityBlocks = kvBlocks,
        MaxContextTokens = Math.Min(32_768, kvBlocks * 16),
        PrefillFixedMs = 5,
        PrefillMsPerToken = 0.1,
        PrefillAttentionMsPerToken2 = k,
        DecodeFixedMs = 5,
        DecodeMsPerContextToken = 0,
        DecodeMsPerSequence = 0,
    };

    public static int[] Tokens(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(100_000)).ToArray();
    }

    public static EngineRequest Request(long id, int[] tokens, int maxTokens = 4) => new(id, PromptBlocks.FromTokens(tokens, Hasher), maxTokens);
}
