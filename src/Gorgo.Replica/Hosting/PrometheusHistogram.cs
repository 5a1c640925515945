using System.Globalization;
using System.Text;

namespace Gorgo.Replica.Hosting;

/// <summary>A Prometheus histogram: cumulative bucket counts, sum and count; thread-safe.</summary>
public sealed class PrometheusHistogram
{
    private readonly double[] _upperBounds;
    private readonly long[] _counts;
    private readonly Lock _gate = new();
    private double _sum;
    private long _count;

    /// <summary>Creates a histogram with the given bucket upper bounds (ascending; +Inf is implied).</summary>
    public PrometheusHistogram(params double[] upperBounds)
    {
        if (upperBounds.Length == 0 || upperBounds.Zip(upperBounds.Skip(1)).Any(p => p.First >= p.Second))
        {
            throw new ArgumentException("Bucket bounds must be non-empty and strictly ascending.", nameof(upperBounds));
        }

        _upperBounds = upperBounds;
        _counts = new long[upperBounds.Length];
    }

    /// <summary>Observations so far.</summary>
    public long Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>Records one observation.</summary>
    public void Observe(double value)
    {
        int bucket = Array.BinarySearch(_upperBounds, value);
        if (bucket < 0)
        {
            bucket = ~bucket;
        }

        lock (_gate)
        {
            if (bucket < _counts.Length)
            {
                _counts[bucket]++;
            }

            _sum += value;
            _count++;
        }
    }

    /// <summary>Appends the histogram in Prometheus text format (buckets, sum, count) with the given labels.</summary>
    public void WriteTo(StringBuilder text, string name, string labels)
    {
        lock (_gate)
        {
            long cumulative = 0;
            for (int i = 0; i < _upperBounds.Length; i++)
            {
                cumulative += _counts[i];
                text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"{_upperBounds[i]}\"}} {cumulative}\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"+Inf\"}} {_count}\n");
            text.Append(CultureInfo.InvariantCulture, $"{name}_sum{{{labels}}} {_sum}\n");
            text.Append(CultureInfo.InvariantCulture, $"{name}_count{{{labels}}} {_count}\n");
        }
    }
}
