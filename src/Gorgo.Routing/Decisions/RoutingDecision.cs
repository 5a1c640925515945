using Gorgo.Routing.Cost;

namespace Gorgo.Routing.Decisions;

/// <summary>The record of one routing decision: the choice, the runner-up and every candidate's cost terms.</summary>
public sealed class RoutingDecision
{
    private readonly CandidateScore[] _candidates;

    /// <summary>Creates a decision record.</summary>
    public RoutingDecision(
        string policy,
        string decidingRegion,
        long requestId,
        long decidedAtMs,
        int promptTokens,
        CandidateScore[] candidates,
        int chosenIndex,
        int runnerUpIndex,
        TtftEstimate? chosenModelEstimate = null)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if ((uint)chosenIndex >= (uint)candidates.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(chosenIndex), chosenIndex, "The chosen index must point at a candidate.");
        }

        if (runnerUpIndex != -1 && ((uint)runnerUpIndex >= (uint)candidates.Length || runnerUpIndex == chosenIndex))
        {
            throw new ArgumentOutOfRangeException(nameof(runnerUpIndex), runnerUpIndex, "The runner-up must be another candidate or -1.");
        }

        Policy = policy;
        DecidingRegion = decidingRegion;
        RequestId = requestId;
        DecidedAtMs = decidedAtMs;
        PromptTokens = promptTokens;
        _candidates = candidates;
        ChosenIndex = chosenIndex;
        RunnerUpIndex = runnerUpIndex;
        ChosenModelEstimate = chosenModelEstimate ?? candidates[chosenIndex].Estimate;
    }

    /// <summary>Name of the policy that decided.</summary>
    public string Policy { get; }

    /// <summary>Region of the router that decided.</summary>
    public string DecidingRegion { get; }

    /// <summary>Caller-supplied request id (0 when none).</summary>
    public long RequestId { get; }

    /// <summary>When the decision was made, in ms on the router's clock.</summary>
    public long DecidedAtMs { get; }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; }

    /// <summary>Every candidate considered, in fleet order.</summary>
    public IReadOnlyList<CandidateScore> Candidates => _candidates;

    /// <summary>Index of the chosen candidate in <see cref="Candidates"/>.</summary>
    public int ChosenIndex { get; }

    /// <summary>Index of the runner-up in <see cref="Candidates"/>, or -1 when there is none.</summary>
    public int RunnerUpIndex { get; }

    /// <summary>The chosen replica's estimate by the uncalibrated cost model (what calibration fits against; <see cref="CandidateScore.Estimate"/> when calibration is off).</summary>
    public TtftEstimate ChosenModelEstimate { get; }

    /// <summary>The chosen replica's scores.</summary>
    public CandidateScore Chosen => _candidates[ChosenIndex];

    /// <summary>The runner-up's scores, when there is one.</summary>
    public CandidateScore? RunnerUp => RunnerUpIndex < 0 ? null : _candidates[RunnerUpIndex];

    /// <summary>Prompt tokens believed cached on the chosen replica.</summary>
    public int MatchedTokens => Chosen.MatchedTokens;

    /// <summary>Age of the chosen replica's state when the decision was made.</summary>
    public double StateAgeMs => Chosen.StateAgeMs;

    /// <summary>
    /// Whether this decision overrode an idle home replica for a client in <paramref name="clientRegion"/>: served in
    /// another region although a candidate in the client's region, as the router saw it, had nothing queued, a free
    /// batch slot and at least as long a prefix match as the chosen replica. A counter of what a policy does with its
    /// own view (GORGO's stay-home rule rules it out by construction), not evidence of harm: whether a forward hurt is
    /// measured on outcomes (the simulator's <c>harmful_forward_fraction</c>).
    /// </summary>
    public bool IsHomeIdleOverrideFor(string clientRegion) => IsHomeIdleOverride(_candidates, ChosenIndex, clientRegion);

    /// <summary>As <see cref="IsHomeIdleOverrideFor"/>, for the candidates of a decision and the index of the one chosen.</summary>
    public static bool IsHomeIdleOverride(ReadOnlySpan<CandidateScore> candidates, int chosenIndex, string clientRegion)
    {
        CandidateScore chosen = candidates[chosenIndex];
        if (chosen.Region == clientRegion)
        {
            return false;
        }

        foreach (CandidateScore c in candidates)
        {
            if (c.Region == clientRegion && c.QueuedRequests == 0 && !c.AtCapacity && c.MatchedTokens >= chosen.MatchedTokens)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Oldest state among all candidates.</summary>
    public double MaxStateAgeMs
    {
        get
        {
            double max = 0;
            foreach (CandidateScore c in _candidates)
            {
                max = Math.Max(max, c.StateAgeMs);
            }

            return max;
        }
    }

    /// <summary>Whether the request leaves the deciding region.</summary>
    public bool IsCrossRegion => !Chosen.IsHome;
}
