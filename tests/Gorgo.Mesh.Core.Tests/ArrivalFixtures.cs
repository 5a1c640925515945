using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;

namespace Gorgo.Mesh.Core.Tests;

/// <summary>Two regions, a and b, 80 ms apart, and the replicas and forwarded request the arrival tests route.</summary>
internal static class ArrivalFixtures
{
    public const long T0 = 1_800_000_000_000;

    public static readonly RttMatrix TwoRegions = RttMatrix.FromNested(new Dictionary<string, Dictionary<string, double>> { ["a"] = new() { ["b"] = 80 } }, ["a", "b"], 1);

    /// <summary>A replica of <paramref name="region"/> with 8 batch slots, 0.03 ms per prefill token, reported at T0.</summary>
    public static ReplicaView Replica(string id, string region, int running, int queued, long queuedTokens) => new()
    {
        Id = id,
        Region = region,
        Model = "m",
        RunningRequests = running,
        QueuedRequests = queued,
        QueuedTokens = queuedTokens,
        PrefillMsPerToken = 0.03,
        MaxRunningRequests = 8,
        MaxContextTokens = 4096,
        TakenAtMs = T0,
    };

    /// <summary>A 64-token prompt another region's node forwarded.</summary>
    public static RoutingRequest Forwarded() => new(new PromptBlocks(new ulong[] { 11, 12, 13, 14 }, 64, BlockHasher.DefaultBlockSize), "m", MaxOutputTokens: 16);
}
