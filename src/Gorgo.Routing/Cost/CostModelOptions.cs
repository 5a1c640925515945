using Gorgo.Routing.Options;

namespace Gorgo.Routing.Cost;

/// <summary>Parameters of the GORGO TTFT cost model.</summary>
public sealed record CostModelOptions
{
    /// <summary>q̂: fraction of a running request's prompt work still ahead of a new arrival (the paper's code uses 0.5).</summary>
    public double RunningWorkFraction { get; init; } = 0.5;

    /// <summary>Fixed per-request time on every replica (scheduling and the first decode step); CALIBRATION.md puts it at 10–20 ms.</summary>
    public double FixedOverheadMs { get; init; } = 15;

    /// <summary>
    /// Whether the queue term includes the wait for a batch slot behind a full batch, for replicas that report their
    /// decode time per request (on by default; off is the paper's token-only queue term).
    /// </summary>
    public bool ForecastSlotWait { get; init; } = true;

    /// <summary>Added to the estimate of a replica reported <c>Degraded</c>.</summary>
    public double DegradedPenaltyMs { get; init; } = 250;

    /// <summary>Online calibration of the model per replica from observed TTFTs (off by default).</summary>
    public CalibrationOptions Calibration { get; init; } = new();

    /// <summary>The allowance a router learns, per remote region, for forwarded requests starting later than estimated (on by default).</summary>
    public TransitAllowanceOptions TransitAllowance { get; init; } = new();

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(double.IsFinite(RunningWorkFraction) && RunningWorkFraction is >= 0 and <= 1, $"RunningWorkFraction must be between 0 and 1 (got {RunningWorkFraction}).")
        .Finite(FixedOverheadMs, nameof(FixedOverheadMs))
        .Finite(DegradedPenaltyMs, nameof(DegradedPenaltyMs))
        .Check(Calibration is not null, "Calibration is missing.")
        .Include(Calibration?.Validate() ?? [])
        .Check(TransitAllowance is not null, "TransitAllowance is missing.")
        .Include(TransitAllowance?.Validate() ?? [])
        .Errors;
}
