using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gorgo.Scenarios.Results;

/// <summary>Writes a benchmark's outputs: <c>summary.json</c>, <c>requests.csv</c>, <c>report.md</c> and the PNG plots.</summary>
public static class ResultsWriter
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes every output into <paramref name="directory"/> (created if needed); returns the files written.</summary>
    public static IReadOnlyList<string> Write(string directory, BenchSummary summary, IReadOnlyList<RequestRecord>? records, string? title = null)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        string Path(string name)
        {
            string p = System.IO.Path.Combine(directory, name);
            files.Add(p);
            return p;
        }

        File.WriteAllText(Path("summary.json"), JsonSerializer.Serialize(summary, Json) + "\n");
        if (records is not null)
        {
            WriteCsv(Path("requests.csv"), records);
        }

        File.WriteAllText(Path("report.md"), Report(summary, title));
        if (summary.Runs.Any(r => r.TtftQuantiles.Length > 0))
        {
            Plots.TtftCdf(Path("ttft_cdf.png"), summary);
        }

        if (summary.Runs.Count > 0)
        {
            Plots.Percentiles(Path("ttft_percentiles.png"), summary);
        }

        return files;
    }

    /// <summary>The comparison table of <c>report.md</c>.</summary>
    public static string Report(BenchSummary summary, string? title = null)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# {title ?? $"Benchmark: {summary.Scenario}"}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Scenario `{summary.Scenario}`, seed {summary.Seed}, {(summary.Simulated ? "simulated" : "live")}{(summary.Complete ? string.Empty : ", INCOMPLETE (stopped early)")}. Times in ms.");
        md.AppendLine();
        md.AppendLine("| run | mode | policy | scope | consistency | completed | req/s | TTFT mean | TTFT P50 | TTFT P90 | TTFT P99 | E2E P50 | E2E P99 | prefix hit | cross-region | harmful fwd | regret mean | regret P99 | home-idle override | state age P50 | state age P99 | gossip B/node/s |");
        md.AppendLine("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (RunSummary r in summary.Runs)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.Mode} | {r.Policy} | {r.Scope ?? "-"} | {r.Consistency ?? "-"} | {r.Completed}/{r.Requests} | {r.ThroughputRps:F2} | {r.TtftMs.Mean:F0} | {r.TtftMs.P50:F0} | {r.TtftMs.P90:F0} | {r.TtftMs.P99:F0} | {r.E2eMs.P50:F0} | {r.E2eMs.P99:F0} | {r.PrefixHitRate:P1} | {r.CrossRegionFraction:P1} | {Fraction(r.HarmfulForwardFraction)} | {Ms(r.RegretMs?.Mean)} | {Ms(r.RegretMs?.P99)} | {r.HomeIdleOverrideFraction:P1} | {r.StateAgeMs.P50:F0} | {r.StateAgeMs.P99:F0} | {GossipCell(r)} |");
        }

        md.AppendLine();
        md.AppendLine(Legend);
        if (summary.Runs.Any(r => r.Policy == "oracle"))
        {
            md.AppendLine();
            md.AppendLine(OracleLegend);
        }
        return md.ToString();
    }

    /// <summary>What the report's columns mean.</summary>
    public const string Legend =
        "req/s = completed requests per second from the first arrival to the last response. Prefix hit = cached prompt tokens / prompt tokens. " +
        "Cross-region = served outside the user's region. Harmful fwd = served outside the user's region and its TTFT exceeded the TTFT forecast, " +
        "from the true engine states when the request reached its ingress (live: as it left its client, with the emulated legs, not counting requests " +
        "already on their way to an engine), at the best replica in the user's region. Regret = TTFT minus the least " +
        "forecast TTFT over every replica the deployment could use (negative when the realized TTFT beat the forecast). \"-\": not measurable " +
        "(live runs whose engines run in other processes). Home-idle override = the router's own count of forwards that passed over a home replica that it saw " +
        "idle with as long a prefix match (GORGO's stay-when-home-idle rule makes it 0 there by construction: a policy counter, not an outcome).";

    /// <summary>What the simulator's <c>oracle</c> run is.</summary>
    public const string OracleLegend =
        "oracle = the clairvoyant greedy oracle (simulator only): each request, at its user's region, sees every replica's exact state and takes the least " +
        "TTFT the engine model forecasts over the cost model's best sim.oracleCandidates (default 8) replicas. Greedy, it does not foresee later arrivals: " +
        "a strong reference, not a lower bound.";

    /// <summary>A run's gossip bytes per node per second for a Markdown table cell ("-" when it has no gossip).</summary>
    public static string GossipCell(RunSummary run) =>
        run.GossipBytesPerNodePerS is { } bytes ? bytes.ToString("F0", CultureInfo.InvariantCulture) : "-";

    /// <summary>A share for a Markdown table cell ("-" when not measured).</summary>
    public static string Fraction(double? value) => value is { } v ? v.ToString("P1", CultureInfo.InvariantCulture) : "-";

    /// <summary>Milliseconds for a Markdown table cell ("-" when not measured).</summary>
    public static string Ms(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";

    private static void WriteCsv(string path, IReadOnlyList<RequestRecord> records)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine("run,index,user_region,arrival_ms,status,completed,ttft_ms,e2e_ms,prompt_tokens,cached_tokens,output_tokens,served_region,replica,estimated_ttft_ms,matched_tokens,state_age_ms,home_idle_override,best_forecast_ttft_ms,best_home_forecast_ttft_ms,regret_ms,harmful_forward,ending,attempts,entry_region,tried,error");
        foreach (RequestRecord r in records)
        {
            writer.WriteLine(string.Join(',',
                Csv(r.Run), r.Index.ToString(CultureInfo.InvariantCulture), Csv(r.UserRegion), F(r.ArrivalMs), r.Status.ToString(CultureInfo.InvariantCulture),
                r.Completed ? "true" : "false", F(r.TtftMs), F(r.E2eMs), r.PromptTokens.ToString(CultureInfo.InvariantCulture), r.CachedTokens.ToString(CultureInfo.InvariantCulture),
                r.OutputTokens.ToString(CultureInfo.InvariantCulture), Csv(r.ServedRegion), Csv(r.Replica), F(r.EstimatedTtftMs), r.MatchedTokens?.ToString(CultureInfo.InvariantCulture) ?? string.Empty,
                F(r.StateAgeMs), Bool(r.HomeIdleOverride), F(r.BestForecastTtftMs), F(r.BestHomeForecastTtftMs), F(r.RegretMs), Bool(r.HarmfulForward),
                r.EffectiveEnding.Name(), r.Attempts?.ToString(CultureInfo.InvariantCulture) ?? string.Empty, Csv(r.EntryRegion), Csv(r.Tried), Csv(r.Error)));
        }
    }

    private static string Bool(bool? value) => value switch { true => "true", false => "false", null => string.Empty };

    private static string F(double? value) => value?.ToString("F3", CultureInfo.InvariantCulture) ?? string.Empty;

    private static string Csv(string? value) =>
        value is null ? string.Empty : value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
}
