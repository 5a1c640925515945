using System.Globalization;
using HdrHistogram;

namespace Gorgo.Scenarios.Results;

/// <summary>
/// Builds a <see cref="RunSummary"/> one request at a time in bounded memory: latencies go into HdrHistograms
/// (microsecond resolution, three significant digits), counts into counters. The live harness and the simulator both
/// summarise through it, so their percentiles are computed the same way.
/// </summary>
public sealed class RunAccumulator(string name, string mode, string policy, string? consistency, string? scope = null)
{
    private const long HighestMicros = 24L * 3600 * 1_000_000;
    private const int QuantilePoints = 200;

    private readonly LongHistogram _ttft = new(HighestMicros, 3);
    private readonly LongHistogram _e2e = new(HighestMicros, 3);
    private readonly LongHistogram _age = new(HighestMicros, 3);
    private readonly SortedDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _served = new(StringComparer.Ordinal);
    private double _ttftSum;
    private double _e2eSum;
    private long _promptTokens;
    private long _cachedTokens;
    private int _requests;
    private int _completed;
    private int _crossRegion;
    private int _homeIdleOverrides;
    private readonly SignedHistogram _regret = new();
    private readonly SignedHistogram _estimateError = new();
    private int _forecast;
    private int _harmful;
    private long _outputTokens;
    private int _lost;
    private int _errorEvents;
    private int _retried;
    private int _failedBeforeFirstToken;
    private double _firstArrivalMs = double.PositiveInfinity;
    private double _lastEndMs = double.NegativeInfinity;

    /// <summary>Requests added so far.</summary>
    public int Requests => _requests;

    /// <summary>Counts one request.</summary>
    public void Add(RequestRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        StreamEnding ending = record.EffectiveEnding;
        _lost += ending.IsLost() ? 1 : 0;
        _errorEvents += ending == StreamEnding.ErrorEvent ? 1 : 0;
        _retried += record.Attempts > 1 ? 1 : 0;
        if (record.Completed)
        {
            AddCompleted(record);
        }
        else
        {
            AddFailed(record.Status, beforeFirstToken: record.TtftMs is null);
        }
    }

    /// <summary>Counts a request that finished normally.</summary>
    public void AddCompleted(RequestRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        double ttftMs = record.TtftMs ?? 0;
        double e2eMs = record.E2eMs ?? 0;
        _requests++;
        _completed++;
        _ttftSum += ttftMs;
        _e2eSum += e2eMs;
        _ttft.RecordValue(Micros(ttftMs));
        _e2e.RecordValue(Micros(e2eMs));
        if (record.StateAgeMs is { } age)
        {
            _age.RecordValue(Micros(age));
        }

        _promptTokens += record.PromptTokens;
        _cachedTokens += record.CachedTokens;
        _outputTokens += record.OutputTokens;
        _firstArrivalMs = Math.Min(_firstArrivalMs, record.ArrivalMs);
        _lastEndMs = Math.Max(_lastEndMs, record.ArrivalMs + e2eMs);
        if (record.ServedRegion is { } served)
        {
            _served[served] = _served.GetValueOrDefault(served) + 1;
            _crossRegion += served != record.UserRegion ? 1 : 0;
        }

        _homeIdleOverrides += record.HomeIdleOverride == true ? 1 : 0;
        if (record.EstimatedTtftMs is { } estimated)
        {
            _estimateError.Record(ttftMs - estimated);
        }

        if (record.RegretMs is { } regret)
        {
            _forecast++;
            _regret.Record(regret);
            _harmful += record.HarmfulForward == true ? 1 : 0;
        }
    }

    /// <summary>Counts a request that failed with <paramref name="status"/> (0: no response), by default before its first token.</summary>
    public void AddFailed(int status, bool beforeFirstToken = true)
    {
        _failedBeforeFirstToken += beforeFirstToken ? 1 : 0;
        _requests++;
        string key = status.ToString(CultureInfo.InvariantCulture);
        _failures[key] = _failures.GetValueOrDefault(key) + 1;
    }

    /// <summary>The run's summary so far.</summary>
    public RunSummary ToSummary() => new()
    {
        Name = name,
        Mode = mode,
        Policy = policy,
        Consistency = consistency,
        Scope = scope,
        Requests = _requests,
        Completed = _completed,
        Failed = _requests - _completed,
        ThroughputRps = Rate(_completed),
        OutputTokensPerS = Rate(_outputTokens),
        TtftMs = Stats(_ttft, _ttftSum),
        E2eMs = Stats(_e2e, _e2eSum),
        PrefixHitRate = _promptTokens == 0 ? 0 : _cachedTokens / (double)_promptTokens,
        CrossRegionFraction = _completed == 0 ? 0 : _crossRegion / (double)_completed,
        HomeIdleOverrideFraction = _completed == 0 ? 0 : _homeIdleOverrides / (double)_completed,
        HarmfulForwardFraction = _forecast == 0 ? null : Math.Round(_harmful / (double)_forecast, 6),
        RegretMs = _forecast == 0 ? null : _regret.Stats(),
        EstimateErrorMs = _estimateError.Count == 0 ? null : _estimateError.Stats(),
        StateAgeMs = _age.TotalCount == 0 ? new AgeStats(0, 0) : new AgeStats(Percentile(_age, 50), Percentile(_age, 99)),
        Lost = _lost,
        FailedBeforeFirstToken = _failedBeforeFirstToken,
        EndedWithErrorEvent = _errorEvents,
        Retried = _retried,
        FailuresByStatus = new Dictionary<string, int>(_failures),
        ServedByRegion = new Dictionary<string, int>(_served),
        TtftQuantiles = _ttft.TotalCount == 0 ? [] : Enumerable.Range(1, QuantilePoints).Select(i => Percentile(_ttft, 100.0 * i / QuantilePoints)).ToArray(),
    };

    /// <summary>A histogram of values that may be negative (regret, estimate error), in microseconds: negative values by their magnitude in one histogram, the rest in another.</summary>
    private sealed class SignedHistogram
    {
        private readonly LongHistogram _negative = new(HighestMicros, 3);
        private readonly LongHistogram _positive = new(HighestMicros, 3);
        private double _sum;

        public long Count => _negative.TotalCount + _positive.TotalCount;

        public void Record(double ms)
        {
            _sum += ms;
            (ms < 0 ? _negative : _positive).RecordValue(Micros(Math.Abs(ms)));
        }

        public LatencyStats Stats() => new(Math.Round(_sum / Count, 3), At(50), At(90), At(99));

        /// <summary>The value at <paramref name="percentile"/> of all values: negatives, most negative first, then the rest.</summary>
        private double At(double percentile)
        {
            long rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * Count));
            long negatives = _negative.TotalCount;
            return rank <= negatives
                ? -Percentile(_negative, 100.0 * (negatives - rank + 1) / negatives)
                : Percentile(_positive, 100.0 * (rank - negatives) / _positive.TotalCount);
        }
    }

    /// <summary>Per second over the span from the first completed request's arrival to the last response's end (0 without one).</summary>
    private double Rate(double count) => _lastEndMs > _firstArrivalMs ? Math.Round(count * 1000 / (_lastEndMs - _firstArrivalMs), 3) : 0;

    private static long Micros(double ms) => Math.Clamp((long)Math.Round(ms * 1000), 0, HighestMicros);

    private static double Percentile(LongHistogram histogram, double percentile) =>
        Math.Round(histogram.GetValueAtPercentile(percentile) / 1000.0, 3);

    private LatencyStats Stats(LongHistogram histogram, double sum) => histogram.TotalCount == 0
        ? LatencyStats.Empty
        : new LatencyStats(Math.Round(sum / histogram.TotalCount, 3), Percentile(histogram, 50), Percentile(histogram, 90), Percentile(histogram, 99));
}
