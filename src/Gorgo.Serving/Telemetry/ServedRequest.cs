using System.Diagnostics;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Decisions;
using Microsoft.AspNetCore.Http;

namespace Gorgo.Serving.Telemetry;

/// <summary>The outcomes a front door counts requests by (<c>gorgo_requests_total{outcome}</c>).</summary>
public static class RequestOutcomes
{
    /// <summary>Answered in full.</summary>
    public const string Ok = "ok";

    /// <summary>Refused for the client's fault (4xx other than 429).</summary>
    public const string ClientError = "client_error";

    /// <summary>Failed on the router's or a replica's side (5xx, or a stream ended with an error event).</summary>
    public const string ServerError = "server_error";

    /// <summary>Refused for want of room or while draining (429, or 503 <c>node_draining</c>), with Retry-After.</summary>
    public const string Rejected = "rejected";

    /// <summary>The client went away first.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>What a front door learns about one request as it serves it, for its metrics, log event and decision list.</summary>
internal sealed class ServedRequest(long startedTicks)
{
    public string? ClientRegion { get; set; }

    /// <summary>The emulated half of the client's leg still to come after the first token (0 when not emulated).</summary>
    public double EmulatedLegAfterMs { get; set; }

    /// <summary>The client leg the estimate includes that the ingress does not see (not emulated).</summary>
    public double UnseenClientLegMs { get; set; }

    /// <summary>How long the request waited at the front door before its routing decision (admission queue, body, tokenizer), ms.</summary>
    public double WaitedMs { get; set; }

    public RoutingDecision? Decision { get; set; }

    public DecisionEntry? Entry { get; set; }

    public CandidateScore? Replica { get; private set; }

    public int Attempts { get; private set; }

    /// <summary>TTFT as the ingress sees it (with the emulated client leg); null before the first token.</summary>
    public double? TtftMs { get; private set; }

    public string? Outcome { get; set; }

    /// <summary>The code of a refusal for want of room or while draining; null otherwise.</summary>
    public string? RejectedFor { get; private set; }

    /// <summary>The HTTP status the client gets (499 when it went away first).</summary>
    public int Status { get; private set; } = StatusCodes.Status200OK;

    public double ElapsedMs(long nowTicks) => Stopwatch.GetElapsedTime(startedTicks, nowTicks).TotalMilliseconds + EmulatedLegAfterMs;

    /// <summary>
    /// The first token arrived from <paramref name="replica"/> after <paramref name="attempts"/> attempts; served by
    /// <paramref name="reboundTo"/>, in <paramref name="reboundRegion"/> when known, when the replica's node rebound the
    /// request to another of its replicas or relayed it to another region's.
    /// </summary>
    public void FirstToken(long nowTicks, CandidateScore replica, int attempts, string? reboundTo = null, string? reboundRegion = null)
    {
        TtftMs = ElapsedMs(nowTicks);
        Replica = replica;
        Attempts = attempts;
        ReboundTo = reboundTo;
        ReboundRegion = reboundTo is null ? null : reboundRegion;
    }

    /// <summary>The replica its node rebound or relayed the request to on arrival; null when the one called served it.</summary>
    public string? ReboundTo { get; private set; }

    /// <summary>The region of <see cref="ReboundTo"/> when known.</summary>
    public string? ReboundRegion { get; private set; }

    /// <summary>The replica that served the request (null before its first token).</summary>
    public string? ServedBy => ReboundTo ?? Replica?.ReplicaId;

    /// <summary>The region that served the request (null before its first token).</summary>
    public string? ServedRegion => ReboundRegion ?? Replica?.Region;

    /// <summary>Classifies a failure.</summary>
    public void Failed(Exception failure, bool clientLeft)
    {
        (Outcome, Status) = failure switch
        {
            _ when clientLeft => (RequestOutcomes.Cancelled, 499),
            OpenAiError { Status: 429 } e => (RequestOutcomes.Rejected, e.Status),
            OpenAiError { Status: 503, Code: "node_draining" } e => (RequestOutcomes.Rejected, e.Status),
            OpenAiError { Status: < 500 } e => (RequestOutcomes.ClientError, e.Status),
            OpenAiError e => (RequestOutcomes.ServerError, e.Status),
            BadHttpRequestException e => (RequestOutcomes.ClientError, e.StatusCode),
            _ => (RequestOutcomes.ServerError, StatusCodes.Status500InternalServerError),
        };
        if (Outcome == RequestOutcomes.Rejected && failure is OpenAiError rejected)
        {
            RejectedFor = rejected.Code ?? "rejected";
        }
    }
}

/// <summary>The attributes of Gorgo's spans.</summary>
internal static class RequestTracing
{
    /// <summary>Tags the routing span with the decision: policy, choice, estimate terms, matched tokens, state age.</summary>
    public static void Tag(Activity? activity, RoutingDecision decision)
    {
        if (activity is null)
        {
            return;
        }

        CandidateScore c = decision.Chosen;
        activity.SetTag("gorgo.region", decision.DecidingRegion);
        activity.SetTag("gorgo.policy", decision.Policy);
        activity.SetTag("gorgo.replica", c.ReplicaId);
        activity.SetTag("gorgo.replica_region", c.Region);
        activity.SetTag("gorgo.estimate.total_ms", c.Estimate.TotalMs);
        activity.SetTag("gorgo.estimate.network_ms", c.Estimate.NetworkMs);
        activity.SetTag("gorgo.estimate.queue_ms", c.Estimate.QueueMs);
        activity.SetTag("gorgo.estimate.prefill_ms", c.Estimate.PrefillMs);
        activity.SetTag("gorgo.prompt_tokens", decision.PromptTokens);
        activity.SetTag("gorgo.matched_tokens", c.MatchedTokens);
        activity.SetTag("gorgo.state_age_ms", c.StateAgeMs);
        activity.SetTag("gorgo.candidates", decision.Candidates.Count);
    }

    /// <summary>Tags the generation span with the replica that produced the first token.</summary>
    public static void Tag(Activity? activity, CandidateScore served, int attempts)
    {
        activity?.SetTag("gorgo.replica", served.ReplicaId);
        activity?.SetTag("gorgo.replica_region", served.Region);
        activity?.SetTag("gorgo.attempts", attempts);
    }
}
