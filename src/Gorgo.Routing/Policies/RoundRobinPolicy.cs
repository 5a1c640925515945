using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary><c>round-robin</c>: the next candidate in turn; the one after it is the runner-up.</summary>
public sealed class RoundRobinPolicy : IRoutingPolicy
{
    private ulong _next;

    /// <inheritdoc />
    public string Name => PolicyCatalog.RoundRobin;

    /// <inheritdoc />
    public PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context)
    {
        int n = candidates.Length;
        int chosen = (int)(_next++ % (ulong)n);
        return new PolicyChoice(chosen, n > 1 ? (chosen + 1) % n : -1);
    }
}
