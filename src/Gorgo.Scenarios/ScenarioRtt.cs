using System.Globalization;
using Gorgo.Routing.Fleet;

namespace Gorgo.Scenarios;

/// <summary>Builds a scenario's RTT matrix from its source: inline values, a pairs CSV or a square matrix CSV.</summary>
public static class ScenarioRtt
{
    /// <summary>The RTT matrix over the scenario's regions, with the multiplier applied.</summary>
    /// <exception cref="ArgumentException">The file cannot be read or lacks a pair of the scenario's regions.</exception>
    public static RttMatrix Build(Scenario scenario)
    {
        RttSpec spec = scenario.Rtt;
        Func<string, string, double?> lookup = spec.Inline is { } inline
            ? (a, b) => inline.TryGetValue(a, out var row) && row.TryGetValue(b, out double ms) ? ms : null
            : ReadFile(scenario.Resolve(spec.File!), spec.Column);
        var pairs = new List<(string, string, double)>();
        foreach (string a in scenario.Regions)
        {
            foreach (string b in scenario.Regions)
            {
                string fa = spec.Aliases.GetValueOrDefault(a, a);
                string fb = spec.Aliases.GetValueOrDefault(b, b);
                double? ms = lookup(fa, fb) ?? lookup(fb, fa);
                if (ms is null && fa == fb)
                {
                    ms = spec.IntraRegionMs; // a region to itself, or two sites aliased to one region of the source
                }

                pairs.Add((a, b, (ms ?? throw new ArgumentException($"The RTT source has no value between '{fa}' and '{fb}' (regions '{a}' and '{b}'); add an alias or an inline value.")) * spec.Multiplier));
            }
        }

        return RttMatrix.FromPairs(pairs);
    }

    private static Func<string, string, double?> ReadFile(string path, string column)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"Cannot read the RTT file '{path}': {ex.Message}", ex);
        }

        if (lines.Length < 2)
        {
            throw new ArgumentException($"The RTT file '{path}' has no data.");
        }

        string[] header = lines[0].Split(',');
        var values = new Dictionary<(string, string), double>();
        if (string.Equals(header[0].Trim(), "source", StringComparison.OrdinalIgnoreCase))
        {
            foreach (string line in lines.Skip(1))
            {
                string[] cells = line.Split(',');
                for (int j = 1; j < cells.Length && j < header.Length; j++)
                {
                    if (double.TryParse(cells[j], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms))
                    {
                        values[(cells[0], header[j])] = ms;
                    }
                }
            }
        }
        else
        {
            int ia = Array.IndexOf(header, "region_a");
            int ib = Array.IndexOf(header, "region_b");
            int ic = Array.IndexOf(header, column);
            if (ia < 0 || ib < 0 || ic < 0)
            {
                throw new ArgumentException($"The RTT file '{path}' is neither a square matrix (first column 'source') nor a pairs file with region_a, region_b and '{column}'.");
            }

            foreach (string line in lines.Skip(1))
            {
                string[] cells = line.Split(',');
                if (cells.Length > ic && double.TryParse(cells[ic], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms))
                {
                    values[(cells[ia], cells[ib])] = ms;
                }
            }
        }

        return (a, b) => values.TryGetValue((a, b), out double ms) ? ms : null;
    }
}
