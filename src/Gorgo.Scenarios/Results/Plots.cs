using ScottPlot;

namespace Gorgo.Scenarios.Results;

/// <summary>The benchmark's PNG plots, drawn with ScottPlot.</summary>
public static class Plots
{
    /// <summary>CDF of TTFT per run (completed requests), from each run's TTFT quantiles.</summary>
    public static void TtftCdf(string path, BenchSummary summary)
    {
        var plot = new Plot();
        foreach (RunSummary run in summary.Runs.Where(r => r.TtftQuantiles.Length > 0))
        {
            double[] ttfts = run.TtftQuantiles;
            double[] fractions = Enumerable.Range(1, ttfts.Length).Select(i => (double)i / ttfts.Length).ToArray();
            var line = plot.Add.ScatterLine(ttfts, fractions);
            line.LegendText = run.Name;
            line.LineWidth = 2;
        }

        plot.Title($"TTFT CDF: {summary.Scenario}{(summary.Simulated ? " (simulated)" : string.Empty)}");
        plot.XLabel("time to first token (ms)");
        plot.YLabel("fraction of requests");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 1000, 600);
    }

    /// <summary>P50, P90 and P99 TTFT per run, as grouped bars.</summary>
    public static void Percentiles(string path, BenchSummary summary)
    {
        var plot = new Plot();
        (string Label, Func<RunSummary, double> Value, Color Color)[] series =
        [
            ("P50", r => r.TtftMs.P50, Colors.SteelBlue),
            ("P90", r => r.TtftMs.P90, Colors.Orange),
            ("P99", r => r.TtftMs.P99, Colors.FireBrick),
        ];
        var bars = new List<Bar>();
        for (int i = 0; i < summary.Runs.Count; i++)
        {
            for (int s = 0; s < series.Length; s++)
            {
                bars.Add(new Bar { Position = (i * (series.Length + 1)) + s, Value = series[s].Value(summary.Runs[i]), FillColor = series[s].Color });
            }
        }

        plot.Add.Bars(bars);
        Tick[] ticks = summary.Runs.Select((r, i) => new Tick((i * (series.Length + 1)) + 1, r.Name)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 16 + (7 * summary.Runs.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
        foreach ((string label, _, Color color) in series)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = label, FillColor = color });
        }

        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title($"TTFT percentiles: {summary.Scenario}{(summary.Simulated ? " (simulated)" : string.Empty)}");
        plot.YLabel("time to first token (ms)");
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, 1000, 650);
    }

    /// <summary>A sweep: TTFT P50 (solid) and P99 (dashed) per run against the swept value, prefix hit rate (dotted) on the right axis.</summary>
    public static void Sweep(string path, string scenario, string field, IReadOnlyList<(double Value, BenchSummary Summary)> points, bool simulated = true)
    {
        var plot = new Plot();
        double[] xs = points.Select(p => p.Value).ToArray();
        string[] runs = points.SelectMany(p => p.Summary.Runs.Select(r => r.Name)).Distinct(StringComparer.Ordinal).ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Length; i++)
        {
            string run = runs[i];
            RunSummary?[] series = points.Select(p => p.Summary.Runs.FirstOrDefault(r => r.Name == run)).ToArray();
            Color color = palette.GetColor(i);
            var p50 = plot.Add.Scatter(xs, series.Select(r => r?.TtftMs.P50 ?? double.NaN).ToArray());
            p50.LegendText = $"{run} P50";
            p50.Color = color;
            var p99 = plot.Add.Scatter(xs, series.Select(r => r?.TtftMs.P99 ?? double.NaN).ToArray());
            p99.LegendText = $"{run} P99";
            p99.Color = color;
            p99.LinePattern = LinePattern.Dashed;
            var hit = plot.Add.Scatter(xs, series.Select(r => 100 * (r?.PrefixHitRate ?? double.NaN)).ToArray());
            hit.LegendText = $"{run} prefix hit %";
            hit.Color = color;
            hit.LinePattern = LinePattern.Dotted;
            hit.Axes.YAxis = plot.Axes.Right;
        }

        plot.Title($"Sweep of {field}: {scenario} ({(simulated ? "simulated" : "live")})");
        plot.XLabel(field);
        plot.YLabel("time to first token (ms)");
        plot.Axes.Right.Label.Text = "prefix hit rate (%)";
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1100, 650);
    }

    /// <summary>
    /// A load sweep: TTFT P50 (solid) and P99 (dashed) per run against the throughput the run achieved at each load step
    /// (completed requests per second; the sweep's table gives the offered load of each).
    /// </summary>
    public static void LatencyVersusLoad(string path, string scenario, string field, IReadOnlyList<(double Value, BenchSummary Summary)> points, bool simulated)
    {
        var plot = new Plot();
        string[] runs = points.SelectMany(p => p.Summary.Runs.Select(r => r.Name)).Distinct(StringComparer.Ordinal).ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Length; i++)
        {
            string run = runs[i];
            RunSummary[] series = points.SelectMany(p => p.Summary.Runs.Where(r => r.Name == run)).ToArray();
            double[] xs = series.Select(r => r.ThroughputRps).ToArray();
            Color color = palette.GetColor(i % 10);
            var p50 = plot.Add.Scatter(xs, series.Select(r => r.TtftMs.P50).ToArray());
            p50.LegendText = $"{run} P50";
            p50.Color = color;
            var p99 = plot.Add.Scatter(xs, series.Select(r => r.TtftMs.P99).ToArray());
            p99.LegendText = $"{run} P99";
            p99.Color = color;
            p99.LinePattern = LinePattern.Dashed;
        }

        plot.Title($"TTFT against load (sweep of {field}): {scenario} ({(simulated ? "simulated" : "live")})");
        plot.XLabel("throughput (completed requests/s)");
        plot.YLabel("time to first token (ms)");
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, plot.Axes.GetLimits().Top);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1100, 650);
    }
}
