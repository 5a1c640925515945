using Gorgo.Routing.Cost;

namespace Gorgo.Routing.Decisions;

/// <summary>The record of one routing decision: the choice, the runner-up and every candidate's cost terms.</summary>
/// <remarks>
/// A record can be reused: <see cref="Router.Route(in RoutingRequest, RoutingDecision)"/> overwrites one in place,
/// keeping its candidate buffer, so a caller that no longer needs the previous decision routes without allocating.
/// </remarks>
public sealed class RoutingDecision
{
    private readonly CandidateList _candidates = new();

    /// <summary>An empty record, to be filled by <see cref="Router.Route(in RoutingRequest, RoutingDecision)"/>.</summary>
    public RoutingDecision()
    {
        Policy = string.Empty;
        DecidingRegion = string.Empty;
    }

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
        : this()
    {
        ArgumentNullException.ThrowIfNull(candidates);
        candidates.CopyTo(Scores.Reset(candidates.Length));
        Set(policy, decidingRegion, requestId, decidedAtMs, promptTokens, chosenIndex, runnerUpIndex, chosenModelEstimate);
    }

    /// <summary>The buffer a router scores candidates into.</summary>
    internal CandidateList Scores => _candidates;

    /// <summary>Overwrites the record's figures with a new decision's; its candidates are already in <see cref="Scores"/>.</summary>
    internal void Set(
        string policy,
        string decidingRegion,
        long requestId,
        long decidedAtMs,
        int promptTokens,
        int chosenIndex,
        int runnerUpIndex,
        TtftEstimate? chosenModelEstimate)
    {
        ReadOnlySpan<CandidateScore> candidates = _candidates.Span;
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
        ChosenIndex = chosenIndex;
        RunnerUpIndex = runnerUpIndex;
        ChosenModelEstimate = chosenModelEstimate ?? candidates[chosenIndex].Estimate;
    }

    /// <summary>Name of the policy that decided.</summary>
    public string Policy { get; private set; }

    /// <summary>Region of the router that decided.</summary>
    public string DecidingRegion { get; private set; }

    /// <summary>Caller-supplied request id (0 when none).</summary>
    public long RequestId { get; private set; }

    /// <summary>When the decision was made, in ms on the router's clock.</summary>
    public long DecidedAtMs { get; private set; }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; private set; }

    /// <summary>Every candidate considered, in fleet order.</summary>
    public IReadOnlyList<CandidateScore> Candidates => _candidates;

    /// <summary>Index of the chosen candidate in <see cref="Candidates"/>.</summary>
    public int ChosenIndex { get; private set; }

    /// <summary>Index of the runner-up in <see cref="Candidates"/>, or -1 when there is none.</summary>
    public int RunnerUpIndex { get; private set; }

    /// <summary>The chosen replica's estimate by the uncalibrated cost model (what calibration fits against; <see cref="CandidateScore.Estimate"/> when calibration is off).</summary>
    public TtftEstimate ChosenModelEstimate { get; private set; }

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
    public bool IsHomeIdleOverrideFor(string clientRegion) => IsHomeIdleOverride(_candidates.Span, ChosenIndex, clientRegion);

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
            foreach (CandidateScore c in _candidates.Span)
            {
                max = Math.Max(max, c.StateAgeMs);
            }

            return max;
        }
    }

    /// <summary>Whether the request leaves the deciding region.</summary>
    public bool IsCrossRegion => !Chosen.IsHome;
}

/// <summary>A decision's candidates: a buffer reused from one decision to the next, read as a list.</summary>
internal sealed class CandidateList : IReadOnlyList<CandidateScore>
{
    private CandidateScore[] _items = [];
    private int _count;

    public int Count => _count;

    public ReadOnlySpan<CandidateScore> Span => _items.AsSpan(0, _count);

    public CandidateScore this[int index] => (uint)index < (uint)_count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Empties the list and returns room for <paramref name="count"/> candidates, to be written in place; grows the buffer only when it is too small.</summary>
    public Span<CandidateScore> Reset(int count)
    {
        if (_items.Length < count)
        {
            _items = new CandidateScore[Math.Max(count, _items.Length * 2)];
        }
        else if (_count > count)
        {
            _items.AsSpan(count, _count - count).Clear(); // holds no stale candidate past the count
        }

        _count = count;
        return _items.AsSpan(0, count);
    }

    public IEnumerator<CandidateScore> GetEnumerator()
    {
        for (int i = 0; i < _count; i++)
        {
            yield return _items[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
