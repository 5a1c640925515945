using Gorgo.Routing.Options;

namespace Gorgo.Routing.Cost;

/// <summary>How a router learns, per remote region, how much later than estimated the requests it forwards there start.</summary>
public sealed record TransitAllowanceOptions
{
    /// <summary>Whether estimates of remote replicas include their region's learned allowance (learned either way).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Weight of each new observation in the running mean of residuals (an effective memory of about 1 / weight forwarded requests).</summary>
    public double Weight { get; init; } = 0.1;

    /// <summary>Time in which an allowance with no new observation halves, ms, so a region it stopped being chosen for is tried again.</summary>
    public double HalfLifeMs { get; init; } = 120_000;

    /// <summary>Bound of a residual's weight and of the allowance, ms.</summary>
    public double MaxMs { get; init; } = 5_000;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(double.IsFinite(Weight) && Weight is > 0 and <= 1, $"TransitAllowance.Weight must be above 0 and at most 1 (got {Weight}).")
        .Check(double.IsFinite(HalfLifeMs) && HalfLifeMs > 0, $"TransitAllowance.HalfLifeMs must be positive (got {HalfLifeMs}).")
        .Check(double.IsFinite(MaxMs) && MaxMs > 0, $"TransitAllowance.MaxMs must be positive (got {MaxMs}).")
        .Errors;
}

/// <summary>
/// The time a request forwarded to one remote region takes beyond the estimate the router made of it, learned online: a
/// running mean of the residuals (observed − estimated), each bounded, that halves every half-life without news. Work
/// that reaches a remote replica while a forwarded request is still on the WAN goes ahead of it (engines serve in order
/// of arrival), so when regions see traffic at the same moments the estimate of a remote replica, however exact its
/// state, is too low by what its own region sends it meanwhile; a home replica is not exposed so and has none. A mutable
/// value type kept in the router's arrays; allocates nothing.
/// </summary>
public struct TransitAllowance
{
    private double _mean;
    private long _atMs;

    /// <summary>Forwarded requests observed.</summary>
    public long Observations { readonly get; private set; }

    /// <summary>
    /// Adds one forwarded request that started <paramref name="residualMs"/> later than estimated (negative: sooner),
    /// observed at <paramref name="nowMs"/>; non-finite residuals are ignored.
    /// </summary>
    public void Observe(double residualMs, long nowMs, TransitAllowanceOptions options)
    {
        if (!double.IsFinite(residualMs))
        {
            return;
        }

        double bounded = Math.Clamp(residualMs, -options.MaxMs, options.MaxMs);
        double mean = Observations == 0 ? 0 : Decayed(nowMs, options);
        _mean = mean + (options.Weight * (bounded - mean));
        _atMs = nowMs;
        Observations++;
    }

    /// <summary>The allowance at <paramref name="nowMs"/>: the decayed mean residual, at least 0 and at most <see cref="TransitAllowanceOptions.MaxMs"/>.</summary>
    public readonly double CurrentMs(long nowMs, TransitAllowanceOptions options) =>
        _mean <= 0 ? 0 : Math.Min(Decayed(nowMs, options), options.MaxMs);

    private readonly double Decayed(long nowMs, TransitAllowanceOptions options)
    {
        long elapsed = nowMs - _atMs;
        return elapsed <= 0 ? _mean : _mean * Math.Exp(-Math.Log(2) * elapsed / options.HalfLifeMs);
    }
}
