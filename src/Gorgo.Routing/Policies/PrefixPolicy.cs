using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary>
/// <c>prefix</c>: the longest cached prefix wins, ties broken by load (the paper's prefix-similarity baseline).
/// Like SGLang's cache-aware router it falls back to least-load when load is badly imbalanced or when no replica
/// matches at least <see cref="PrefixPolicyOptions.MinMatchRatio"/> of the prompt.
/// </summary>
public sealed class PrefixPolicy(PrefixPolicyOptions options) : IRoutingPolicy
{
    /// <summary>The settings in force.</summary>
    public PrefixPolicyOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <inheritdoc />
    public string Name => PolicyCatalog.Prefix;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context)
    {
        int minLoad = int.MaxValue;
        int maxLoad = 0;
        int maxMatched = 0;
        foreach (ref readonly CandidateScore c in candidates)
        {
            minLoad = Math.Min(minLoad, c.OutstandingRequests);
            maxLoad = Math.Max(maxLoad, c.OutstandingRequests);
            maxMatched = Math.Max(maxMatched, c.MatchedTokens);
        }

        bool imbalanced = maxLoad - minLoad > Options.BalanceAbsThreshold && maxLoad > minLoad * Options.BalanceRelThreshold;
        bool weakMatch = maxMatched < Options.MinMatchRatio * context.PromptTokens;
        return imbalanced || weakMatch
            ? CandidateRanking.TopTwo(candidates, default(LeastLoadOrder))
            : CandidateRanking.TopTwo(candidates, default(LongestPrefixOrder));
    }
}
