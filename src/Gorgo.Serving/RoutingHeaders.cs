using System.Globalization;
using Gorgo.Routing.Decisions;
using Microsoft.AspNetCore.Http;

namespace Gorgo.Serving;

/// <summary>The <c>x-gorgo-*</c> response headers that explain a routing decision.</summary>
public static class RoutingHeaders
{
    /// <summary>Region of the replica that served the request.</summary>
    public const string Region = "x-gorgo-region";

    /// <summary>Replica that served the request.</summary>
    public const string Replica = "x-gorgo-replica";

    /// <summary>The replica this node chose, when the node of its region rebound the request to another of its replicas on arrival (<see cref="Replica"/> names the one that served).</summary>
    public const string ReboundFrom = "x-gorgo-rebound-from";

    /// <summary>Policy that chose it.</summary>
    public const string Policy = "x-gorgo-policy";

    /// <summary>
    /// Estimated TTFT as the front door sees it, from when the request reached it, and its terms:
    /// <c>153.6; waited=0.0; network=92.8; queue=45.0; prefill=0.8; overhead=15.0</c>, where <c>waited</c> is the time
    /// already spent at the front door before the decision (admission queue, reading and tokenizing) and the rest is the
    /// cost model's estimate of the chosen replica.
    /// </summary>
    public const string EstimatedTtft = "x-gorgo-estimated-ttft-ms";

    /// <summary>
    /// Response header: the TTFT the front door measured, in ms, from the request's arrival to its first token (what
    /// <see cref="EstimatedTtft"/> estimates, without the client's own connection and reading time).
    /// </summary>
    public const string MeasuredTtft = "x-gorgo-ttft-ms";

    /// <summary>Prompt tokens believed cached on the chosen replica.</summary>
    public const string MatchedTokens = "x-gorgo-matched-tokens";

    /// <summary>Age of the chosen replica's state when the decision was made.</summary>
    public const string StateAge = "x-gorgo-state-age-ms";

    /// <summary>Region of the node that decided (the ingress).</summary>
    public const string Ingress = "x-gorgo-ingress-region";

    /// <summary>Consistency setting of the deciding node.</summary>
    public const string Consistency = "x-gorgo-consistency";

    /// <summary>
    /// <c>true</c> when the request left the client's region although, as the router saw it at decision time, a replica
    /// there had nothing queued and at least as long a prefix match as the chosen one (the trip could only add latency).
    /// Sent only when the client's region is known.
    /// </summary>
    public const string HomeIdleOverride = "x-gorgo-home-idle-override";

    /// <summary>Response header: how many replicas were tried before the first token (1 when the chosen one answered).</summary>
    public const string Attempts = "x-gorgo-attempts";

    /// <summary>Response header: replicas tried and failed before the one that answered, in order (comma-separated; absent when none).</summary>
    public const string Tried = "x-gorgo-tried";

    /// <summary>Response header: replicas left out of this decision because their circuit breaker is open (comma-separated; absent when none).</summary>
    public const string OpenCircuits = "x-gorgo-open-circuits";

    /// <summary>Request header: the client's region (adds the client-to-ingress leg; emulated when WAN emulation is on).</summary>
    public const string ClientRegion = "x-gorgo-client-region";

    /// <summary>Sets the headers for <paramref name="decision"/>, made after the request waited <paramref name="waitedMs"/> at the front door.</summary>
    public static void Apply(IHeaderDictionary headers, RoutingDecision decision, string consistency, double waitedMs = 0)
    {
        CandidateScore c = decision.Chosen;
        headers[Region] = c.Region;
        headers[Replica] = c.ReplicaId;
        headers[Policy] = decision.Policy;
        headers[EstimatedTtft] = string.Create(CultureInfo.InvariantCulture, $"{waitedMs + c.Estimate.TotalMs:F1}; waited={waitedMs:F1}; network={c.Estimate.NetworkMs:F1}; queue={c.Estimate.QueueMs:F1}; prefill={c.Estimate.PrefillMs:F1}; overhead={c.Estimate.OverheadMs:F1}");
        headers[MatchedTokens] = c.MatchedTokens.ToString(CultureInfo.InvariantCulture);
        headers[StateAge] = c.StateAgeMs.ToString("F0", CultureInfo.InvariantCulture);
        headers[Ingress] = decision.DecidingRegion;
        headers[Consistency] = consistency;
    }
}
