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
    public bool RanksByEstimate => true;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context)
    {
        var order = default(EstimatedTtftOrder);
        PolicyChoice top = CandidateRanking.TopTwo(candidates, order);
        if (Options.StayWhenHomeIdle && StayCandidate(candidates, candidates[top.Chosen], context.ClientRegion) is int stay and >= 0)
        {
            return new PolicyChoice(stay, top.Chosen);
        }

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

    /// <summary>The best candidate in the client's region (home when unknown) with nothing queued and at least the chosen one's prefix match; -1 when none, or when the choice is already there.</summary>
    private static int StayCandidate(ReadOnlySpan<CandidateScore> candidates, in CandidateScore chosen, string? clientRegion)
    {
        bool Local(in CandidateScore c) => clientRegion is null ? c.IsHome : c.Region == clientRegion;
        if (Local(chosen))
        {
            return -1;
        }

        var order = default(EstimatedTtftOrder);
        int stay = -1;
        for (int i = 0; i < candidates.Length; i++)
        {
            CandidateScore c = candidates[i];
            if (Local(c) && c.QueuedRequests == 0 && !c.AtCapacity && c.MatchedTokens >= chosen.MatchedTokens && (stay < 0 || order.Compare(c, candidates[stay]) < 0))
            {
                stay = i;
            }
        }

        return stay;
    }
}
