using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;

namespace Gorgo.Routing.Decisions;

/// <summary>Everything the router knew and estimated about one candidate replica for one request.</summary>
/// <param name="ReplicaId">The replica.</param>
/// <param name="Region">Its region.</param>
/// <param name="IsHome">Whether it is in the deciding router's own region.</param>
/// <param name="Health">Its reported health.</param>
/// <param name="MatchedTokens">Prompt tokens the router believes are in its prefix cache.</param>
/// <param name="UncachedTokens">Prompt tokens it would have to prefill.</param>
/// <param name="OutstandingRequests">Running + queued requests, plus those just routed there and not yet reported.</param>
/// <param name="QueuedRequests">Queued requests, plus those just routed there and not yet reported (0: nothing waits there).</param>
/// <param name="OutstandingTokens">Running + queued prompt tokens, plus those just routed there and not yet reported.</param>
/// <param name="PendingRequests">Requests this router sent there that its last report does not reflect yet.</param>
/// <param name="StateAgeMs">Age of the replica's load snapshot at decision time.</param>
/// <param name="Estimate">Estimated TTFT with its terms.</param>
/// <param name="AtCapacity">Whether its batch is full as far as the router knows (a new request would wait for a slot).</param>
/// <param name="TransitAllowanceMs">The part of the estimate's overhead that is its region's learned transit allowance (0 at home).</param>
public readonly record struct CandidateScore(
    string ReplicaId,
    string Region,
    bool IsHome,
    ReplicaHealth Health,
    int MatchedTokens,
    int UncachedTokens,
    int OutstandingRequests,
    int QueuedRequests,
    long OutstandingTokens,
    int PendingRequests,
    double StateAgeMs,
    TtftEstimate Estimate,
    bool AtCapacity = false,
    double TransitAllowanceMs = 0);

/// <summary>
/// A routing choice without its decision record: the chosen candidate, how many were scored, whether the choice
/// overrode an idle home replica of the client's region, and the chosen replica's estimate by the uncalibrated model
/// (what calibration fits against; the chosen estimate itself when calibration is off).
/// </summary>
public readonly record struct RoutedChoice(CandidateScore Chosen, int Candidates, bool HomeIdleOverride, TtftEstimate ChosenModelEstimate);
