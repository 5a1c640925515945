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
public readonly record struct CostInputs(
    double RttMs,
    double ClientLegMs,
    double QueuedTokens,
    double RunningTokens,
    double UncachedTokens,
    double PrefillMsPerToken,
    bool Degraded,
    double RunningPrefillTokens = double.NaN);

/// <summary>The GORGO cost model: estimated TTFT = network + queue + prefill + overhead, in milliseconds.</summary>
/// <remarks>
/// network = RTT(deciding region → replica region) + client leg; queue = t_p × (queued tokens + q̂ × running tokens),
/// or t_p × (queued tokens + running prefill tokens) when the replica reports the prefill its running requests still need;
/// prefill = t_p × uncached prompt tokens; overhead = fixed overhead (+ penalty when degraded). Pure and allocation-free.
/// </remarks>
public sealed class CostModel
{
    private readonly double _runningWorkFraction;
    private readonly double _fixedOverheadMs;
    private readonly double _degradedPenaltyMs;

    /// <summary>Creates the model; throws <see cref="RoutingOptionsException"/> for invalid options.</summary>
    public CostModel(CostModelOptions? options = null)
    {
        Options = options ?? new CostModelOptions();
        new OptionsErrors().Include(Options.Validate()).ThrowIfAny("cost model options");
        _runningWorkFraction = Options.RunningWorkFraction;
        _fixedOverheadMs = Options.FixedOverheadMs;
        _degradedPenaltyMs = Options.DegradedPenaltyMs;
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
        double prefill = tp * inputs.UncachedTokens;
        double overhead = _fixedOverheadMs + (inputs.Degraded ? _degradedPenaltyMs : 0);
        return new TtftEstimate(network, queue, prefill, overhead);
    }
}
