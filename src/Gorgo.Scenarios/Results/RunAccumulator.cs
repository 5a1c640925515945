using System.Globalization;
using HdrHistogram;

namespace Gorgo.Scenarios.Results;

/// <summary>
/// Builds a <see cref="RunSummary"/> one request at a time in bounded memory: latencies go into HdrHistograms
/// (microsecond resolution, three significant digits), counts into counters. The live harness and the simulator both
/// summarise through it, so their percentiles are computed the same way.
/// </summary>
public sealed class RunAccumulator(string name, string mode, string policy, string? consistency)
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
    private int _pathological;

    /// <summary>Requests added so far.</summary>
    public int Requests => _requests;

    /// <summary>Counts one request.</summary>
    public void Add(RequestRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Completed)
        {
            AddCompleted(record.UserRegion, record.ServedRegion, record.TtftMs ?? 0, record.E2eMs ?? 0, record.PromptTokens, record.CachedTokens, record.StateAgeMs, record.Pathological == true);
        }
        else
        {
            AddFailed(record.Status);
        }
    }

    /// <summary>Counts a request that finished normally.</summary>
    public void AddCompleted(string userRegion, string? servedRegion, double ttftMs, double e2eMs, int promptTokens, int cachedTokens, double? stateAgeMs, bool pathological)
    {
        _requests++;
        _completed++;
        _ttftSum += ttftMs;
        _e2eSum += e2eMs;
        _ttft.RecordValue(Micros(ttftMs));
        _e2e.RecordValue(Micros(e2eMs));
        if (stateAgeMs is { } age)
        {
            _age.RecordValue(Micros(age));
        }

        _promptTokens += promptTokens;
        _cachedTokens += cachedTokens;
        if (servedRegion is not null)
        {
            _served[servedRegion] = _served.GetValueOrDefault(servedRegion) + 1;
            _crossRegion += servedRegion != userRegion ? 1 : 0;
        }

        _pathological += pathological ? 1 : 0;
    }

    /// <summary>Counts a request that failed with <paramref name="status"/> (0: no response).</summary>
    public void AddFailed(int status)
    {
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
        Requests = _requests,
        Completed = _completed,
        Failed = _requests - _completed,
        TtftMs = Stats(_ttft, _ttftSum),
        E2eMs = Stats(_e2e, _e2eSum),
        PrefixHitRate = _promptTokens == 0 ? 0 : _cachedTokens / (double)_promptTokens,
        CrossRegionFraction = _completed == 0 ? 0 : _crossRegion / (double)_completed,
        PathologicalFraction = _completed == 0 ? 0 : _pathological / (double)_completed,
        StateAgeMs = _age.TotalCount == 0 ? new AgeStats(0, 0) : new AgeStats(Percentile(_age, 50), Percentile(_age, 99)),
        FailuresByStatus = new Dictionary<string, int>(_failures),
        ServedByRegion = new Dictionary<string, int>(_served),
        TtftQuantiles = _ttft.TotalCount == 0 ? [] : Enumerable.Range(1, QuantilePoints).Select(i => Percentile(_ttft, 100.0 * i / QuantilePoints)).ToArray(),
    };

    private static long Micros(double ms) => Math.Clamp((long)Math.Round(ms * 1000), 0, HighestMicros);

    private static double Percentile(LongHistogram histogram, double percentile) =>
        Math.Round(histogram.GetValueAtPercentile(percentile) / 1000.0, 3);

    private LatencyStats Stats(LongHistogram histogram, double sum) => histogram.TotalCount == 0
        ? LatencyStats.Empty
        : new LatencyStats(Math.Round(sum / histogram.TotalCount, 3), Percentile(histogram, 50), Percentile(histogram, 90), Percentile(histogram, 99));
}
