using Gorgo.Routing.Options;

namespace Gorgo.Routing.Cost;

/// <summary>What the cost model needs to know about one candidate replica for one prompt.</summary>
/// <param name="RttMs">RTT from the deciding region to the replica's region.</param>
/// <param name="ClientLegMs">RTT from the client to the deciding region, or 0 when unknown.</param>
/// <param name="QueuedTokens">Prompt tokens waiting at the replica, including requests just routed there.</param>
/// <param name="RunningTokens">Prompt tokens of the replica's running requests.</param>
/// <param name="UncachedTokens">Prompt tokens not in the replica's prefix cache.</param>
/// <param name="PrefillMsPerToken">The replica's t_p.</param>
/// <param name="Degraded">Whether the replica is reported degraded.</param>
/// <param name="RunningPrefillTokens">Prompt tokens of running requests still to prefill when the replica reports it; NaN when unknown.</param>
/// <param name="OutstandingRequests">Requests running, queued and on their way to the replica (0 when unknown).</param>
/// <param name="BatchSlots">The replica's batch cap (0 when unknown).</param>
/// <param name="DecodeMsPerRequest">How long a request holds a batch slot after its first token, as the replica reports it; NaN when unknown.</param>
/// <param name="DecodeStepMs">How long one decode step takes on the replica, as it reports it; NaN when unknown.</param>
/// <param name="OutputTokens">The new request's requested output length (0 when unknown).</param>
public readonly record struct CostInputs(
    double RttMs,
    double ClientLegMs,
    double QueuedTokens,
    double RunningTokens,
    double UncachedTokens,
    double PrefillMsPerToken,
    bool Degraded,
    double RunningPrefillTokens = double.NaN,
    int OutstandingRequests = 0,
    int BatchSlots = 0,
    double DecodeMsPerRequest = double.NaN,
    double DecodeStepMs = double.NaN,
    int OutputTokens = 0);

/// <summary>The GORGO cost model: estimated TTFT = network + queue + prefill + overhead, in milliseconds.</summary>
/// <remarks>
/// network = RTT(deciding region → replica region) + client leg; queue = t_p × (queued tokens + q̂ × running tokens),
/// or t_p × (queued tokens + running prefill tokens) when the replica reports the prefill its running requests still need;
/// prefill = t_p × uncached prompt tokens; overhead = fixed overhead (+ penalty when degraded). Pure and allocation-free.
/// <para>When the replica reports its decode time D per request and its batch of S slots is full (n requests running,
/// queued or on their way, n ≥ S), a new request also waits for a slot: the batch's requests are at staggered points of
/// their decode, so one finishes every D / S on average and the new request, (n − S + 1)th in line, waits
/// (n − S + 1) × D / S (<see cref="CostModelOptions.ForecastSlotWait"/>). An engine step's time is its prefill chunk's
/// plus its decode's, so prefilling the requests ahead (admitted as slots free up) stretches the decode that frees the
/// slots. A D the replica reports, measured on finished requests, already includes such stretching, and the queue term
/// is the larger of the slot wait and the prefill work ahead. Until the replica knows D (no request has finished there
/// yet), D is taken as the new request's output length times the replica's decode step: a prior that assumes the
/// requests ahead ask for as much as this one, without which a fresh fleet's first burst would see no slot wait at all.
/// The prior is decode alone, so the prefill work ahead is added to its slot wait.</para>
/// </remarks>
public sealed class CostModel
{
    private readonly double _runningWorkFraction;
    private readonly double _fixedOverheadMs;
    private readonly double _degradedPenaltyMs;
    private readonly bool _forecastSlotWait;

    /// <summary>Creates the model; throws <see cref="RoutingOptionsException"/> for invalid options.</summary>
    public CostModel(CostModelOptions? options = null)
    {
        Options = options ?? new CostModelOptions();
        new OptionsErrors().Include(Options.Validate()).ThrowIfAny("cost model options");
        _runningWorkFraction = Options.RunningWorkFraction;
        _fixedOverheadMs = Options.FixedOverheadMs;
        _degradedPenaltyMs = Options.DegradedPenaltyMs;
        _forecastSlotWait = Options.ForecastSlotWait;
    }

    /// <summary>The parameters in force.</summary>
    public CostModelOptions Options { get; }

    /// <summary>Estimates the TTFT of one prompt on one replica.</summary>
    public TtftEstimate Estimate(in CostInputs inputs)
    {
        double tp = inputs.PrefillMsPerToken;
        double network = inputs.RttMs + inputs.ClientLegMs;
        double running = double.IsNaN(inputs.RunningPrefillTokens) ? _runningWorkFraction * inputs.RunningTokens : inputs.RunningPrefillTokens;
        double queue = tp * (inputs.QueuedTokens + running);
        if (_forecastSlotWait)
        {
            double slot = SlotWaitMs(inputs.OutstandingRequests, inputs.BatchSlots, DecodeMs(inputs));
            queue = double.IsNaN(inputs.DecodeMsPerRequest) ? queue + slot : Math.Max(queue, slot); // the prior is decode alone
        }
        double prefill = tp * inputs.UncachedTokens;
        double overhead = _fixedOverheadMs + (inputs.Degraded ? _degradedPenaltyMs : 0);
        return new TtftEstimate(network, queue, prefill, overhead);
    }

    /// <summary>How long a request holds a batch slot after its first token: as the replica reports it, else the new request's output length × the replica's decode step; NaN when neither is known.</summary>
    public static double DecodeMs(in CostInputs inputs) =>
        !double.IsNaN(inputs.DecodeMsPerRequest) ? inputs.DecodeMsPerRequest
        : inputs.OutputTokens > 0 && inputs.DecodeStepMs > 0 ? inputs.OutputTokens * inputs.DecodeStepMs
        : double.NaN;

    /// <summary>
    /// The forecast wait for a batch slot of a new request behind <paramref name="outstanding"/> requests on a replica
    /// with <paramref name="slots"/> slots, each held for <paramref name="decodeMs"/> after its first token: 0 while a
    /// slot is free or when either figure is unknown.
    /// </summary>
    public static double SlotWaitMs(int outstanding, int slots, double decodeMs) =>
        slots > 0 && outstanding >= slots && decodeMs > 0 ? (outstanding - slots + 1) * decodeMs / slots : 0;
}
