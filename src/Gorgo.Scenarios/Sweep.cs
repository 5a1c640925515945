using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gorgo.Routing.Options;
using Gorgo.Scenarios.Results;

namespace Gorgo.Scenarios;

/// <summary>A parameter sweep of <c>gorgo sim</c> and <c>gorgo bench</c>: one numeric scenario field and the values it takes, e.g. <c>gossip.intervalMs=50,200,1000</c> or <c>load.rate=1,2,4,8</c>.</summary>
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
        List<(JsonObject Parent, string Name, string FullPath)> matches = Match(root);

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

    /// <summary>The swept field's full path in <paramref name="scenario"/> (e.g. <c>mesh.gossip.intervalMs</c>).</summary>
    public string FieldIn(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        return Match(JsonSerializer.SerializeToNode(scenario, Scenario.JsonOptions)!.AsObject())[0].FullPath;
    }

    /// <summary>Whether the sweep varies the offered load (<c>load.rate</c>, <c>load.concurrency</c>, or the trace's own <c>trace.rateMultiplier</c>): its plot is latency against throughput.</summary>
    public bool SweepsLoad(Scenario scenario) => FieldIn(scenario) is "load.rate" or "load.concurrency" or "trace.rateMultiplier";

    /// <summary>Writes <c>sweep.md</c>, <c>sweep.json</c> and the plot (<c>latency_vs_load.png</c> for a load sweep, else <c>sweep.png</c>) to <paramref name="directory"/>; returns the table and the files' names.</summary>
    public (string Table, IReadOnlyList<string> Files) Write(string directory, Scenario scenario, IReadOnlyList<(double Value, BenchSummary Summary)> points, bool simulated)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(points);
        Directory.CreateDirectory(directory);
        string table = Report(scenario.Name, points, simulated);
        File.WriteAllText(System.IO.Path.Combine(directory, "sweep.md"), table);
        var json = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(System.IO.Path.Combine(directory, "sweep.json"), JsonSerializer.Serialize(new { field = FieldIn(scenario), simulated, points = points.Select(p => new { value = p.Value, summary = p.Summary }) }, json) + "\n");
        string plot;
        if (SweepsLoad(scenario))
        {
            plot = "latency_vs_load.png";
            Plots.LatencyVersusLoad(System.IO.Path.Combine(directory, plot), scenario.Name, FieldIn(scenario), points, simulated);
        }
        else
        {
            plot = "sweep.png";
            Plots.Sweep(System.IO.Path.Combine(directory, plot), scenario.Name, Path, points, simulated);
        }

        return (table, ["sweep.md", "sweep.json", plot]);
    }

    /// <summary>The sweep's table: one row per value and run.</summary>
    public string Report(string scenarioName, IReadOnlyList<(double Value, BenchSummary Summary)> points, bool simulated = true)
    {
        ArgumentNullException.ThrowIfNull(points);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Sweep of {Path}: {scenarioName} ({(simulated ? "simulated" : "live")})");
        md.AppendLine();
        md.AppendLine(ResultsWriter.Legend);
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"| {Path} | run | req/s | TTFT mean | TTFT P50 | TTFT P99 | prefix hit | cross-region | harmful fwd | regret mean | state age P50 | state age P99 | gossip B/node/s |");
        md.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach ((double value, BenchSummary summary) in points)
        {
            foreach (RunSummary r in summary.Runs)
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {value} | {r.Name} | {r.ThroughputRps:F2} | {r.TtftMs.Mean:F0} | {r.TtftMs.P50:F0} | {r.TtftMs.P99:F0} | {r.PrefixHitRate:P1} | {r.CrossRegionFraction:P1} | {ResultsWriter.Fraction(r.HarmfulForwardFraction)} | {ResultsWriter.Ms(r.RegretMs?.Mean)} | {r.StateAgeMs.P50:F0} | {r.StateAgeMs.P99:F0} | {ResultsWriter.GossipCell(r)} |");
            }
        }

        return md.ToString();
    }

    private List<(JsonObject Parent, string Name, string FullPath)> Match(JsonObject root)
    {
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

        return matches;
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
