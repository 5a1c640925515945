using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tests;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(long startMs = 1_700_000_000_000) : TimeProvider
{
    public long NowMs { get; private set; } = startMs;

    public void Advance(long ms) => NowMs += ms;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(NowMs);
}

/// <summary>Hand-built fleets for tests: three regions with the AWS backbone RTTs used in the samples.</summary>
internal static class TestFleet
{
    public const string Model = "m";
    public const string UsEast = "us-east";
    public const string EuCentral = "eu-central";
    public const string ApNortheast = "ap-northeast";

    public static RttMatrix Rtt { get; } = RttMatrix.FromPairs(
    [
        (UsEast, UsEast, 5.3), (EuCentral, EuCentral, 4.0), (ApNortheast, ApNortheast, 3.8),
        (UsEast, EuCentral, 92.8), (UsEast, ApNortheast, 178.6), (EuCentral, ApNortheast, 231.5),
    ]);

    public static BlockHasher Hasher { get; } = new(16);

    public static ReplicaView Replica(string id, string region, long takenAtMs, int running = 0, int queued = 0, long runningTokens = 0, long queuedTokens = 0, double tp = 0.03) => new()
    {
        Id = id,
        Region = region,
        Model = Model,
        RunningRequests = running,
        QueuedRequests = queued,
        RunningTokens = runningTokens,
        QueuedTokens = queuedTokens,
        PrefillMsPerToken = tp,
        TakenAtMs = takenAtMs,
    };

    public static Router Router(ManualClock clock, string policy = "gorgo", string region = UsEast, Func<RouterOptions, RouterOptions>? configure = null)
    {
        var options = new RouterOptions { Region = region, Policy = new Policies.PolicyOptions { Name = policy } };
        return new Router(configure?.Invoke(options) ?? options, Rtt, clock);
    }

    /// <summary>Deterministic pseudo-random tokens: the same seed gives the same prompt.</summary>
    public static int[] RandomTokens(int count, int seed)
    {
        var random = new Random(seed);
        var tokens = new int[count];
        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] = random.Next(0, 100_000);
        }

        return tokens;
    }

    public static PromptBlocks Prompt(int[] tokens) => PromptBlocks.FromTokens(tokens, Hasher);

    public static RoutingRequest Request(int[] tokens, string? clientRegion = null) => new(Prompt(tokens), Model, clientRegion);
}
