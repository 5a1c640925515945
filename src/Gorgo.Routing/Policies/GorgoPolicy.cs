using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary>
/// <c>gorgo</c>: the minimum estimated TTFT (network + queue + prefill). A request leaves its region only when the best
/// remote estimate beats the best home estimate by more than <see cref="GorgoPolicyOptions.CrossRegionMarginMs"/>.
/// </summary>
public sealed class GorgoPolicy(GorgoPolicyOptions options) : IRoutingPolicy
{
    /// <summary>The settings in force.</summary>
    public GorgoPolicyOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <inheritdoc />
    public string Name => PolicyCatalog.Gorgo;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context)
    {
        var order = default(EstimatedTtftOrder);
        PolicyChoice top = CandidateRanking.TopTwo(candidates, order);
        if (candidates[top.Chosen].IsHome)
        {
            return top;
        }

        int home = CandidateRanking.Best(candidates, order, home: true);
        if (home < 0)
        {
            return top;
        }

        double gain = candidates[home].Estimate.TotalMs - candidates[top.Chosen].Estimate.TotalMs;
        return gain > Options.CrossRegionMarginMs ? top : new PolicyChoice(home, top.Chosen);
    }
}
