using Gorgo.Engine.Profiles;

namespace Gorgo.Testing;

/// <summary>Engine profiles for tests: fast, with a simple fixed cost, so tests take milliseconds and timings are easy to reason about.</summary>
internal static class TestProfiles
{
    /// <summary>2 ms steps plus 0.01 ms per prefill token, no attention or context terms, 16-token blocks, an 8k context.</summary>
    public static EngineProfile Fast(string name, int maxRunningRequests) => new()
    {
        Name = name,
        MaxRunningRequests = maxRunningRequests,
        MaxBatchedTokens = 4096,
        PrefillChunkTokens = 4096,
        KvCapacityBlocks = 8192,
        MaxContextTokens = 8192,
        PrefillFixedMs = 2,
        PrefillMsPerToken = 0.01,
        PrefillAttentionMsPerToken2 = 0,
        DecodeFixedMs = 2,
        DecodeMsPerContextToken = 0,
        DecodeMsPerSequence = 0,
    };
}
