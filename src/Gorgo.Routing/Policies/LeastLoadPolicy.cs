using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary><c>least-load</c>: fewest outstanding tokens, ignoring network and cache (the paper's least-load baseline).</summary>
public sealed class LeastLoadPolicy : IRoutingPolicy
{
    /// <inheritdoc />
    public string Name => PolicyCatalog.LeastLoad;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context) =>
        CandidateRanking.TopTwo(candidates, default(LeastLoadOrder));
}
