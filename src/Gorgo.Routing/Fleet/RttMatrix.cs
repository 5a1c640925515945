using System.Collections.Concurrent;
using System.Globalization;

namespace Gorgo.Routing.Fleet;

/// <summary>Round-trip times in milliseconds between named regions (row = from, column = to); immutable.</summary>
public sealed class RttMatrix
{
    private readonly Dictionary<string, int> _indexOf;
    private readonly double[] _ms;
    private readonly int _count;
    private readonly ConcurrentDictionary<(int From, int Count), bool[]> _nearest = new();

    private RttMatrix(string[] regions, double[] ms)
    {
        Regions = regions;
        _ms = ms;
        _count = regions.Length;
        _indexOf = new Dictionary<string, int>(regions.Length, StringComparer.Ordinal);
        for (int i = 0; i < regions.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(regions[i]))
            {
                throw new ArgumentException($"Region {i} has an empty name.", nameof(regions));
            }

            if (!_indexOf.TryAdd(regions[i], i))
            {
                throw new ArgumentException($"Region '{regions[i]}' appears twice.", nameof(regions));
            }
        }
    }

    /// <summary>Region names, in index order.</summary>
    public IReadOnlyList<string> Regions { get; }

    /// <summary>Number of regions.</summary>
    public int Count => _count;

    /// <summary>RTT from region index <paramref name="from"/> to <paramref name="to"/>.</summary>
    public double this[int from, int to] => _ms[(from * _count) + to];

    /// <summary>Builds a matrix from a square array; every value must be finite and non-negative.</summary>
    public static RttMatrix Create(IReadOnlyList<string> regions, double[,] ms)
    {
        ArgumentNullException.ThrowIfNull(regions);
        ArgumentNullException.ThrowIfNull(ms);
        int n = regions.Count;
        if (n == 0)
        {
            throw new ArgumentException("An RTT matrix needs at least one region.", nameof(regions));
        }

        if (ms.GetLength(0) != n || ms.GetLength(1) != n)
        {
            throw new ArgumentException($"The RTT matrix must be {n}×{n} for {n} regions (got {ms.GetLength(0)}×{ms.GetLength(1)}).", nameof(ms));
        }

        var flat = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                flat[(i * n) + j] = CheckRtt(ms[i, j], regions[i], regions[j]);
            }
        }

        return new RttMatrix(regions.ToArray(), flat);
    }

    /// <summary>
    /// Builds a matrix from (from, to, ms) pairs. A missing direction takes the reverse pair's value; a missing
    /// diagonal takes <paramref name="defaultIntraRegionMs"/>; any other missing pair is an error.
    /// </summary>
    public static RttMatrix FromPairs(IEnumerable<(string From, string To, double Ms)> pairs, double defaultIntraRegionMs = 1.0)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        CheckRtt(defaultIntraRegionMs, "(default)", "(default)");
        var list = pairs.ToList();
        var regions = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string from, string to, _) in list)
        {
            if (seen.Add(from))
            {
                regions.Add(from);
            }

            if (seen.Add(to))
            {
                regions.Add(to);
            }
        }

        int n = regions.Count;
        var ms = new double[n, n];
        var set = new bool[n, n];
        var index = regions.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i, StringComparer.Ordinal);
        foreach ((string from, string to, double value) in list)
        {
            int i = index[from];
            int j = index[to];
            ms[i, j] = CheckRtt(value, from, to);
            set[i, j] = true;
        }

        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (set[i, j])
                {
                    continue;
                }

                if (set[j, i])
                {
                    ms[i, j] = ms[j, i];
                }
                else if (i == j)
                {
                    ms[i, j] = defaultIntraRegionMs;
                }
                else
                {
                    throw new ArgumentException($"No RTT given between '{regions[i]}' and '{regions[j]}'.", nameof(pairs));
                }
            }
        }

        return Create(regions, ms);
    }

    /// <summary>
    /// Builds a matrix from a nested map <c>{from: {to: ms}}</c> (the configuration files' form), adding a diagonal entry
    /// of <paramref name="intraRegionMs"/> for every region in <paramref name="regions"/> the map does not mention.
    /// </summary>
    public static RttMatrix FromNested(IReadOnlyDictionary<string, Dictionary<string, double>> rtt, IEnumerable<string> regions, double intraRegionMs = 1.0)
    {
        ArgumentNullException.ThrowIfNull(rtt);
        ArgumentNullException.ThrowIfNull(regions);
        var pairs = rtt.SelectMany(from => from.Value.Select(to => (From: from.Key, To: to.Key, Ms: to.Value))).ToList();
        var mentioned = pairs.SelectMany(p => new[] { p.From, p.To }).ToHashSet(StringComparer.Ordinal);
        foreach (string region in regions.Distinct(StringComparer.Ordinal).Where(r => !mentioned.Contains(r)))
        {
            pairs.Add((region, region, intraRegionMs));
        }

        return FromPairs(pairs, intraRegionMs);
    }

    /// <summary>Index of a region, or -1 when unknown.</summary>
    public int IndexOf(string region) => _indexOf.TryGetValue(region, out int i) ? i : -1;

    /// <summary>Whether the region is in the matrix.</summary>
    public bool Contains(string region) => _indexOf.ContainsKey(region);

    /// <summary>
    /// Which regions are among the <paramref name="count"/> nearest to region index <paramref name="from"/> by RTT,
    /// itself first (ties by index); every region when <paramref name="count"/> is 0 or covers them all.
    /// </summary>
    public bool[] NearestMask(int from, int count) => (bool[])Nearest(from, count).Clone();

    /// <summary>Whether <paramref name="region"/> is among the <paramref name="count"/> nearest to <paramref name="from"/> (see <see cref="NearestMask"/>).</summary>
    /// <remarks>Masks are computed once per region and count (the gossip path asks for every digest it merges or relays).</remarks>
    public bool IsNear(string from, string region, int count) => count <= 0 || Nearest(Require(from), count)[Require(region)];

    /// <summary>The cached mask behind <see cref="NearestMask"/> (callers must not change it).</summary>
    private bool[] Nearest(int from, int count) => _nearest.GetOrAdd((from, count), key => ComputeNearest(key.From, key.Count));

    private bool[] ComputeNearest(int from, int count)
    {
        var near = new bool[_count];
        if (count <= 0 || count >= _count || from < 0)
        {
            Array.Fill(near, true);
            return near;
        }

        int[] order = Enumerable.Range(0, _count).OrderBy(r => r == from ? double.NegativeInfinity : this[from, r]).ThenBy(r => r).ToArray();
        for (int i = 0; i < count; i++)
        {
            near[order[i]] = true;
        }

        return near;
    }

    /// <summary>RTT between two named regions; throws for an unknown region.</summary>
    public double Get(string from, string to) => this[Require(from), Require(to)];

    /// <summary>A copy with one directed value changed (e.g. a new smoothed probe).</summary>
    public RttMatrix With(string from, string to, double ms)
    {
        int i = Require(from);
        int j = Require(to);
        var copy = (double[])_ms.Clone();
        copy[(i * Count) + j] = CheckRtt(ms, from, to);
        return new RttMatrix((string[])Regions, copy);
    }

    private int Require(string region) =>
        _indexOf.TryGetValue(region ?? throw new ArgumentNullException(nameof(region)), out int i)
            ? i
            : throw new ArgumentException($"Unknown region '{region}'. Known regions: {string.Join(", ", Regions)}.", nameof(region));

    private static double CheckRtt(double ms, string from, string to) =>
        double.IsFinite(ms) && ms >= 0
            ? ms
            : throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"RTT from '{from}' to '{to}' must be a finite, non-negative number of milliseconds (got {ms})."));
}
