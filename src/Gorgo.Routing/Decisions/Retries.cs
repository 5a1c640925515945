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
    /// <paramref name="router"/> can reach; null when none is left.
    /// </summary>
    public static CandidateScore? Next(IReadOnlyList<CandidateScore> candidates, ICollection<string> tried, Router router)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(tried);
        ArgumentNullException.ThrowIfNull(router);
        CandidateScore? best = null;
        foreach (CandidateScore c in candidates)
        {
            if (!tried.Contains(c.ReplicaId) && c.Health is ReplicaHealth.Healthy or ReplicaHealth.Degraded && !router.IsSuspended(c.ReplicaId) && router.IsReachable(c.Region)
                && (best is null || c.Estimate.TotalMs < best.Value.Estimate.TotalMs))
            {
                best = c;
            }
        }

        return best;
    }
}
