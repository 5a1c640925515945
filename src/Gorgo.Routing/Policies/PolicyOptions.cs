using Gorgo.Routing.Options;

namespace Gorgo.Routing.Policies;

/// <summary>Settings of the <c>prefix</c> policy (the paper's prefix-similarity baseline, with SGLang's cache-aware guards).</summary>
public sealed record PrefixPolicyOptions
{
    /// <summary>Below this fraction of the prompt matched anywhere, route by load instead (SGLang gateway default 0.3; 0 disables).</summary>
    public double MinMatchRatio { get; init; } = 0.3;

    /// <summary>Load is imbalanced when max − min outstanding requests exceeds this (SGLang gateway default 64)...</summary>
    public int BalanceAbsThreshold { get; init; } = 64;

    /// <summary>...and max exceeds min × this (SGLang gateway default 1.5); then the least-loaded replica wins.</summary>
    public double BalanceRelThreshold { get; init; } = 1.5;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(double.IsFinite(MinMatchRatio) && MinMatchRatio is >= 0 and <= 1, $"Prefix.MinMatchRatio must be between 0 and 1 (got {MinMatchRatio}).")
        .Check(BalanceAbsThreshold >= 0, $"Prefix.BalanceAbsThreshold cannot be negative (got {BalanceAbsThreshold}).")
        .Check(double.IsFinite(BalanceRelThreshold) && BalanceRelThreshold >= 1, $"Prefix.BalanceRelThreshold must be at least 1 (got {BalanceRelThreshold}).")
        .Errors;
}

/// <summary>Settings of the <c>gorgo</c> policy.</summary>
public sealed record GorgoPolicyOptions
{
    /// <summary>
    /// Extra gain, in ms, a remote replica's estimate must show over the best home replica before the request leaves
    /// the region. The RTT is already in the estimate, so 0 means "forward exactly when the estimate says it pays".
    /// </summary>
    public double CrossRegionMarginMs { get; init; }

    /// <summary>
    /// Keep a request in its client's region (the router's own when the client's is unknown) when a replica there has
    /// nothing queued, a free batch slot and at least as long a prefix match as the best elsewhere, whatever the
    /// estimates say. Remote
    /// state is always somewhat stale and other routers may be sending there too, so such a forward gains little and
    /// risks much (the paper's "pathological forward"). On by default.
    /// </summary>
    public bool StayWhenHomeIdle { get; init; } = true;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Finite(CrossRegionMarginMs, "Gorgo.CrossRegionMarginMs")
        .Errors;
}

/// <summary>Which policy to run and its settings.</summary>
public sealed record PolicyOptions
{
    /// <summary>Policy name; see <see cref="PolicyCatalog.Names"/>.</summary>
    public string Name { get; init; } = PolicyCatalog.Gorgo;

    /// <summary>Seed of the random source used by <c>random</c> and <c>power-of-two</c> (deterministic runs).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Settings of the <c>prefix</c> policy.</summary>
    public PrefixPolicyOptions Prefix { get; init; } = new();

    /// <summary>Settings of the <c>gorgo</c> policy.</summary>
    public GorgoPolicyOptions Gorgo { get; init; } = new();

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(PolicyCatalog.IsKnown(Name), PolicyCatalog.UnknownMessage(Name))
        .Check(Prefix is not null, "Prefix options are missing.")
        .Check(Gorgo is not null, "Gorgo options are missing.")
        .Include(Prefix?.Validate() ?? [])
        .Include(Gorgo?.Validate() ?? [])
        .Errors;
}
