using Gorgo.Routing.Decisions;
using Gorgo.Routing.Options;

namespace Gorgo.Serving;

/// <summary>How a front door retries a request before its first token, and when it stops sending requests to a failing replica.</summary>
public sealed class ResilienceOptions
{
    /// <summary>Replicas tried per request before its first token (the chosen one, then the next best); 1 turns retries off.</summary>
    public int MaxAttempts { get; set; } = Retries.DefaultMaxAttempts;

    /// <summary>Base of the jittered exponential backoff between attempts, in ms.</summary>
    public int RetryBaseDelayMs { get; set; } = Retries.DefaultBaseDelayMs;

    /// <summary>Deadline for a request's first token over all its attempts, in ms (queueing at a busy replica included).</summary>
    public int FirstTokenTimeoutMs { get; set; } = 120_000;

    /// <summary>A replica's breaker opens when at least this fraction of its calls in the sampling window failed...</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>...and the window held at least this many calls.</summary>
    public int BreakerMinimumThroughput { get; set; } = 4;

    /// <summary>The breaker's sampling window, in ms.</summary>
    public int BreakerSamplingMs { get; set; } = 10_000;

    /// <summary>How long an open breaker keeps its replica out of routing before one request probes it (half-open), in ms.</summary>
    public int BreakerBreakMs { get; set; } = 5_000;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(MaxAttempts is >= 1 and <= 10, $"Resilience:MaxAttempts must be between 1 and 10 (got {MaxAttempts}).")
        .Check(RetryBaseDelayMs is >= 0 and <= 10_000, $"Resilience:RetryBaseDelayMs must be between 0 and 10000 (got {RetryBaseDelayMs}).")
        .Check(FirstTokenTimeoutMs >= 100, $"Resilience:FirstTokenTimeoutMs must be at least 100 (got {FirstTokenTimeoutMs}).")
        .Check(BreakerFailureRatio is > 0 and <= 1, $"Resilience:BreakerFailureRatio must be in (0, 1] (got {BreakerFailureRatio}).")
        .Check(BreakerMinimumThroughput >= 2, $"Resilience:BreakerMinimumThroughput must be at least 2 (got {BreakerMinimumThroughput}).")
        .Check(BreakerSamplingMs >= 500, $"Resilience:BreakerSamplingMs must be at least 500 (got {BreakerSamplingMs}).")
        .Check(BreakerBreakMs >= 500, $"Resilience:BreakerBreakMs must be at least 500 (got {BreakerBreakMs}).")
        .Errors;
}
