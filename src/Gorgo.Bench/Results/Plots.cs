using ScottPlot;

namespace Gorgo.Bench.Results;

/// <summary>The benchmark's PNG plots, drawn with ScottPlot.</summary>
public static class Plots
{
    /// <summary>CDF of TTFT per run (completed requests).</summary>
    public static void TtftCdf(string path, BenchSummary summary, IReadOnlyList<RequestRecord> records)
    {
        var plot = new Plot();
        foreach (RunSummary run in summary.Runs)
        {
            double[] ttfts = records.Where(r => r.Run == run.Name && r.Completed && r.TtftMs is not null).Select(r => r.TtftMs!.Value).Order().ToArray();
            if (ttfts.Length == 0)
            {
                continue;
            }

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
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
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
}
