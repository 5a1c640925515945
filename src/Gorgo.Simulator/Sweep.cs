using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Routing.Options;

namespace Gorgo.Simulator;

/// <summary>A parameter sweep: one numeric scenario field and the values it takes, e.g. <c>gossip.intervalMs=50,200,1000</c>.</summary>
/// <param name="Path">The field's path as written (dot-separated, camelCase).</param>
/// <param name="Values">The values, in order.</param>
public sealed record Sweep(string Path, IReadOnlyList<double> Values)
{
    /// <summary>Parses <c>path=v1,v2,...</c>; throws <see cref="ArgumentException"/> with the reason.</summary>
    public static Sweep Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == text.Length - 1)
        {
            throw new ArgumentException($"A sweep is 'field=value1,value2,...' (e.g. gossip.intervalMs=50,200,1000); got '{text}'.");
        }

        string path = text[..eq].Trim();
        var values = new List<double>();
        foreach (string part in text[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            {
                throw new ArgumentException($"Sweep value '{part}' of '{path}' is not a number.");
            }

            values.Add(v);
        }

        return new Sweep(path, values);
    }

    /// <summary>
    /// The scenario with the swept field set to <paramref name="value"/>. The path is matched against the scenario's
    /// fields from the root or as a unique suffix (<c>gossip.intervalMs</c> finds <c>mesh.gossip.intervalMs</c>); the
    /// field must be numeric, and the result is validated like a scenario file.
    /// </summary>
    public Scenario Apply(Scenario scenario, double value)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        JsonObject root = JsonSerializer.SerializeToNode(scenario, Scenario.JsonOptions)!.AsObject();
        List<(JsonObject Parent, string Name, string FullPath)> matches = [];
        Find(root, string.Empty, Path.Split('.'), matches);
        if (matches.Count == 0)
        {
            throw new ArgumentException($"The scenario has no numeric field '{Path}'. Numeric fields: {string.Join(", ", NumericFields(root, string.Empty))}.");
        }

        if (matches.Count > 1)
        {
            throw new ArgumentException($"'{Path}' is ambiguous: {string.Join(", ", matches.Select(m => m.FullPath))}. Give more of the path.");
        }

        (JsonObject parent, string name, _) = matches[0];
        parent[name] = value == Math.Floor(value) && Math.Abs(value) < long.MaxValue ? JsonValue.Create((long)value) : JsonValue.Create(value);
        Scenario swept;
        try
        {
            swept = root.Deserialize<Scenario>(Scenario.JsonOptions)! with { BaseDirectory = scenario.BaseDirectory };
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"'{Path}' cannot take {value.ToString(CultureInfo.InvariantCulture)} (whole numbers only?): {ex.Message}", ex);
        }

        new OptionsErrors().Include(swept.Validate()).ThrowIfAny($"scenario with {Path}={value.ToString(CultureInfo.InvariantCulture)}");
        return swept;
    }

    /// <summary>The sweep's table: one row per value and run.</summary>
    public string Report(string scenarioName, IReadOnlyList<(double Value, BenchSummary Summary)> points)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Sweep of {Path}: {scenarioName} (simulated)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"| {Path} | run | TTFT mean | TTFT P50 | TTFT P99 | prefix hit | cross-region | pathological | state age P50 | state age P99 | gossip B/node/s |");
        md.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach ((double value, BenchSummary summary) in points)
        {
            foreach (RunSummary r in summary.Runs)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {value} | {r.Name} | {r.TtftMs.Mean:F0} | {r.TtftMs.P50:F0} | {r.TtftMs.P99:F0} | {r.PrefixHitRate:P1} | {r.CrossRegionFraction:P1} | {r.HomeIdleOverrideFraction:P1} | {r.StateAgeMs.P50:F0} | {r.StateAgeMs.P99:F0} | {ResultsWriter.GossipCell(r)} |");
            }
        }

        return md.ToString();
    }

    private static void Find(JsonObject node, string prefix, string[] path, List<(JsonObject, string, string)> matches)
    {
        foreach ((string name, JsonNode? child) in node)
        {
            string full = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (child is JsonObject obj)
            {
                Find(obj, full, path, matches);
            }
            else if (child is JsonValue v && v.GetValueKind() == JsonValueKind.Number && EndsWith(full, path))
            {
                matches.Add((node, name, full));
            }
        }
    }

    private static bool EndsWith(string full, string[] path)
    {
        string[] parts = full.Split('.');
        return parts.Length >= path.Length && parts[^path.Length..].SequenceEqual(path, StringComparer.OrdinalIgnoreCase);
    }

    private static IEnumerable<string> NumericFields(JsonObject node, string prefix)
    {
        foreach ((string name, JsonNode? child) in node)
        {
            string full = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (child is JsonObject obj)
            {
                foreach (string f in NumericFields(obj, full))
                {
                    yield return f;
                }
            }
            else if (child is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
            {
                yield return full;
            }
        }
    }
}
