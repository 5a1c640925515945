using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary>An ordering of candidates: negative when <c>a</c> is better than <c>b</c>.</summary>
internal interface ICandidateOrder
{
    int Compare(in CandidateScore a, in CandidateScore b);
}

/// <summary>Fewer outstanding tokens, then fewer outstanding requests.</summary>
internal readonly struct LeastLoadOrder : ICandidateOrder
{
    public int Compare(in CandidateScore a, in CandidateScore b)
    {
        int c = a.OutstandingTokens.CompareTo(b.OutstandingTokens);
        return c != 0 ? c : a.OutstandingRequests.CompareTo(b.OutstandingRequests);
    }
}

/// <summary>Lower estimated TTFT, then home region first, then fewer outstanding tokens.</summary>
internal readonly struct EstimatedTtftOrder : ICandidateOrder
{
    public int Compare(in CandidateScore a, in CandidateScore b)
    {
        int c = a.Estimate.TotalMs.CompareTo(b.Estimate.TotalMs);
        if (c != 0)
        {
            return c;
        }

        c = b.IsHome.CompareTo(a.IsHome);
        return c != 0 ? c : a.OutstandingTokens.CompareTo(b.OutstandingTokens);
    }
}

/// <summary>Longer matched prefix, then the least-load order.</summary>
internal readonly struct LongestPrefixOrder : ICandidateOrder
{
    public int Compare(in CandidateScore a, in CandidateScore b)
    {
        int c = b.MatchedTokens.CompareTo(a.MatchedTokens);
        return c != 0 ? c : default(LeastLoadOrder).Compare(a, b);
    }
}

/// <summary>Finds the best and second-best candidates under an ordering in one pass; ties keep fleet order.</summary>
internal static class CandidateRanking
{
    public static PolicyChoice TopTwo<TOrder>(ReadOnlySpan<CandidateScore> candidates, TOrder order)
        where TOrder : struct, ICandidateOrder
    {
        int best = -1;
        int second = -1;
        for (int i = 0; i < candidates.Length; i++)
        {
            if (best < 0 || order.Compare(candidates[i], candidates[best]) < 0)
            {
                second = best;
                best = i;
            }
            else if (second < 0 || order.Compare(candidates[i], candidates[second]) < 0)
            {
                second = i;
            }
        }

        return new PolicyChoice(best, second);
    }

    /// <summary>The best candidate satisfying <paramref name="home"/> == IsHome, or -1.</summary>
    public static int Best<TOrder>(ReadOnlySpan<CandidateScore> candidates, TOrder order, bool home)
        where TOrder : struct, ICandidateOrder
    {
        int best = -1;
        for (int i = 0; i < candidates.Length; i++)
        {
            if (candidates[i].IsHome == home && (best < 0 || order.Compare(candidates[i], candidates[best]) < 0))
            {
                best = i;
            }
        }

        return best;
    }
}
