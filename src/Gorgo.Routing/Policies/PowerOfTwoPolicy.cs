using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary><c>power-of-two</c>: two random candidates, the less loaded (outstanding tokens) wins.</summary>
public sealed class PowerOfTwoPolicy(int seed) : IRoutingPolicy
{
    private readonly Random _random = new(seed);

    /// <inheritdoc />
    public string Name => PolicyCatalog.PowerOfTwo;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context)
    {
        PolicyChoice pair = RandomPair.Draw(_random, candidates.Length);
        if (pair.RunnerUp < 0 || default(LeastLoadOrder).Compare(candidates[pair.Chosen], candidates[pair.RunnerUp]) <= 0)
        {
            return pair;
        }

        return new PolicyChoice(pair.RunnerUp, pair.Chosen);
    }
}
