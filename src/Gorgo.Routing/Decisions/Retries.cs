using Gorgo.Routing.Fleet;

namespace Gorgo.Routing.Decisions;

/// <summary>How a request is retried before its first token, shared by the live front door and the simulator: the defaults and the choice of the next replica.</summary>
public static class Retries
{
    /// <summary>Replicas tried per request before its first token by default (the chosen one, then the next best).</summary>
    public const int DefaultMaxAttempts = 3;

    /// <summary>Base of the exponential backoff between attempts by default, in ms.</summary>
    public const int DefaultBaseDelayMs = 25;

    /// <summary>
    /// The next replica to try after the ones in <paramref name="tried"/> failed: among a decision's candidates, the one
    /// with the least estimated TTFT that is healthy (or degraded), not suspended by its circuit breaker and in a region
    /// <paramref name="router"/> can reach; when every such candidate has been tried and the last failure was
    /// <paramref name="transient"/> (the replica could not be reached: a node starting or a connection reset), the best
    /// of them again, as the backoff may have outlasted the fault; null when none is left.
    /// </summary>
    public static CandidateScore? Next(IReadOnlyList<CandidateScore> candidates, ICollection<string> tried, Router router, bool transient = false)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(tried);
        ArgumentNullException.ThrowIfNull(router);
        return Best(candidates, tried, router, untriedOnly: true) ?? (transient ? Best(candidates, tried, router, untriedOnly: false) : null);
    }

    private static CandidateScore? Best(IReadOnlyList<CandidateScore> candidates, ICollection<string> tried, Router router, bool untriedOnly)
    {
        CandidateScore? best = null;
        foreach (CandidateScore c in candidates)
        {
            if ((!untriedOnly || !tried.Contains(c.ReplicaId)) && c.Health is ReplicaHealth.Healthy or ReplicaHealth.Degraded && !router.IsSuspended(c.ReplicaId) && router.IsReachable(c.Region)
                && (best is null || c.Estimate.TotalMs < best.Value.Estimate.TotalMs))
            {
                best = c;
            }
        }

        return best;
    }
}
