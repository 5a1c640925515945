using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary><c>random</c>: a uniformly random candidate from a seeded source; another random one is the runner-up.</summary>
public sealed class RandomPolicy(int seed) : IRoutingPolicy
{
    private readonly Random _random = new(seed);

    /// <inheritdoc />
    public string Name => PolicyCatalog.Random;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context) =>
        RandomPair.Draw(_random, candidates.Length);
}

/// <summary>Draws two distinct random indices (the second is -1 when there is one candidate).</summary>
internal static class RandomPair
{
    public static PolicyChoice Draw(Random random, int n)
    {
        int first = random.Next(n);
        if (n == 1)
        {
            return new PolicyChoice(first, -1);
        }

        int second = random.Next(n - 1);
        return new PolicyChoice(first, second >= first ? second + 1 : second);
    }
}
