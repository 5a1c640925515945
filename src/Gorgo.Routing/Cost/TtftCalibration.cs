using Gorgo.Routing.Options;

namespace Gorgo.Routing.Cost;

/// <summary>How a router calibrates the cost model online, per replica, from the TTFTs it observes.</summary>
public sealed record CalibrationOptions
{
    /// <summary>Whether estimates use each replica's fitted gain and overhead (off: the fixed model).</summary>
    public bool Enabled { get; init; }

    /// <summary>Weight kept by past observations at each new one (recursive least squares' forgetting factor).</summary>
    public double Forgetting { get; init; } = 0.98;

    /// <summary>
    /// Whether the router fits only its own region's replicas (the mesh: each node fits the replicas it hosts, from every
    /// request they serve, and publishes their calibrated prefill rate in its gossip); off, it fits every replica it
    /// observes (the proxy, which sees every request).
    /// </summary>
    public bool OwnReplicasOnly { get; init; }

    /// <summary>Observations of a replica before its fit is used.</summary>
    public int MinObservations { get; init; } = 10;

    /// <summary>Lower bound of the fitted gains on the model's queue and prefill terms.</summary>
    public double MinGain { get; init; } = 0.25;

    /// <summary>Upper bound of the fitted gains.</summary>
    public double MaxGain { get; init; } = 8;

    /// <summary>Upper bound of the fitted fixed overhead, ms (the lower bound is 0).</summary>
    public double MaxOverheadMs { get; init; } = 100;

    /// <summary>A residual larger than this many typical residuals counts only this much (so one outlier cannot drag the fit).</summary>
    public double ClipResiduals { get; init; } = 3;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(double.IsFinite(Forgetting) && Forgetting is > 0.5 and <= 1, $"Calibration.Forgetting must be above 0.5 and at most 1 (got {Forgetting}).")
        .Check(MinObservations >= 1, $"Calibration.MinObservations must be at least 1 (got {MinObservations}).")
        .Check(double.IsFinite(MinGain) && double.IsFinite(MaxGain) && MinGain is > 0 && MaxGain >= MinGain && MinGain <= 1 && MaxGain >= 1, $"Calibration.MinGain and MaxGain must satisfy 0 < MinGain <= 1 <= MaxGain (got {MinGain}, {MaxGain}).")
        .Check(double.IsFinite(MaxOverheadMs) && MaxOverheadMs > 0, $"Calibration.MaxOverheadMs must be positive (got {MaxOverheadMs}).")
        .Check(double.IsFinite(ClipResiduals) && ClipResiduals > 0, $"Calibration.ClipResiduals must be positive (got {ClipResiduals}).")
        .Errors;
}

/// <summary>
/// One replica's online fit of observed TTFT against the cost model: (observed − network) ≈ queue gain × the model's
/// queue term + prefill gain × its prefill term + overhead, by recursive least squares with forgetting. Residuals are
/// clipped at a multiple of their running typical size, and the parameters are kept within bounds. A mutable value
/// type: it lives in the router's arrays and allocates nothing.
/// </summary>
public struct TtftCalibration
{
    private const double GainVariance = 1;
    private const double OverheadVariance = 100 * 100;

    // P, the parameters' covariance (symmetric 3×3: queue gain, prefill gain, overhead).
    private double _p00;
    private double _p01;
    private double _p02;
    private double _p11;
    private double _p12;
    private double _p22;
    private double _typicalResidual;

    /// <summary>Before any observation: the model as it is (gains 1, the configured overhead).</summary>
    public static TtftCalibration Start(double overheadMs) => new()
    {
        QueueGain = 1,
        PrefillGain = 1,
        OverheadMs = Math.Max(0, overheadMs),
        _p00 = GainVariance,
        _p11 = GainVariance,
        _p22 = OverheadVariance,
        _typicalResidual = double.NaN,
    };

    /// <summary>Fitted factor on the model's queue term.</summary>
    public double QueueGain { get; private set; }

    /// <summary>Fitted factor on the model's prefill term.</summary>
    public double PrefillGain { get; private set; }

    /// <summary>Fitted fixed overhead, ms.</summary>
    public double OverheadMs { get; private set; }

    /// <summary>Observations so far.</summary>
    public long Observations { get; private set; }

    /// <summary>Whether the fit has seen enough to be used.</summary>
    public readonly bool IsReady(CalibrationOptions options) => Observations >= options.MinObservations;

    /// <summary>
    /// Adds one observation: the model put the queue at <paramref name="queueMs"/> and the prefill at
    /// <paramref name="prefillMs"/>, and the replica took <paramref name="observedMs"/> beyond the network time (all ms).
    /// Non-finite inputs and negative model terms are ignored; a negative observation (a first token sooner than the
    /// network estimate) is kept: it says the replica is faster than modelled.
    /// </summary>
    public void Observe(double queueMs, double prefillMs, double observedMs, CalibrationOptions options)
    {
        if (!double.IsFinite(queueMs) || !double.IsFinite(prefillMs) || !double.IsFinite(observedMs) || queueMs < 0 || prefillMs < 0)
        {
            return;
        }

        if (_p00 == 0 && _p22 == 0)
        {
            this = Start(OverheadMs);
        }

        // Clip the residual at a multiple of its running typical size (a Huber-style step).
        double residual = observedMs - ((QueueGain * queueMs) + (PrefillGain * prefillMs) + OverheadMs);
        double typical = double.IsNaN(_typicalResidual) ? Math.Max(Math.Abs(residual), 1) : _typicalResidual;
        double limit = options.ClipResiduals * typical;
        double clipped = Math.Clamp(residual, -limit, limit);
        _typicalResidual = Math.Max(1, (0.95 * typical) + (0.05 * Math.Abs(clipped))); // from the clipped residual: outliers cannot inflate it fast

        // Recursive least squares on phi = (queue, prefill, 1) with forgetting lambda: k = P·phi / (lambda + phiᵀ·P·phi).
        double lambda = options.Forgetting;
        double a0 = (_p00 * queueMs) + (_p01 * prefillMs) + _p02;
        double a1 = (_p01 * queueMs) + (_p11 * prefillMs) + _p12;
        double a2 = (_p02 * queueMs) + (_p12 * prefillMs) + _p22;
        double denominator = lambda + (queueMs * a0) + (prefillMs * a1) + a2;
        double k0 = a0 / denominator;
        double k1 = a1 / denominator;
        double k2 = a2 / denominator;
        QueueGain = Math.Clamp(QueueGain + (k0 * clipped), options.MinGain, options.MaxGain);
        PrefillGain = Math.Clamp(PrefillGain + (k1 * clipped), options.MinGain, options.MaxGain);
        OverheadMs = Math.Clamp(OverheadMs + (k2 * clipped), 0, options.MaxOverheadMs);

        // P = (P − k·(P·phi)ᵀ) / lambda, kept within its starting size: without fresh information forgetting would inflate it without bound.
        double p00 = (_p00 - (k0 * a0)) / lambda;
        double p01 = (_p01 - (k0 * a1)) / lambda;
        double p02 = (_p02 - (k0 * a2)) / lambda;
        double p11 = (_p11 - (k1 * a1)) / lambda;
        double p12 = (_p12 - (k1 * a2)) / lambda;
        double p22 = (_p22 - (k2 * a2)) / lambda;
        double scale = Math.Max(Math.Max(p00, p11) / GainVariance, p22 / OverheadVariance);
        if (scale > 1)
        {
            p00 /= scale;
            p01 /= scale;
            p02 /= scale;
            p11 /= scale;
            p12 /= scale;
            p22 /= scale;
        }

        (_p00, _p01, _p02, _p11, _p12, _p22) = (p00, p01, p02, p11, p12, p22);
        Observations++;
    }

    /// <summary>The model's estimate with this fit applied: queue and prefill scaled by their gains, the fixed overhead replaced by the fitted one.</summary>
    public readonly TtftEstimate Apply(in TtftEstimate estimate, double configuredOverheadMs) =>
        new(estimate.NetworkMs, estimate.QueueMs * QueueGain, estimate.PrefillMs * PrefillGain, estimate.OverheadMs - configuredOverheadMs + OverheadMs);
}
