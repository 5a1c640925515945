using System.CommandLine;
using Gorgo.Bench.Live;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Routing.Options;
using Spectre.Console;

namespace Gorgo.Cli.Bench;

/// <summary>What <c>gorgo bench</c> and <c>gorgo sim</c> share: loading the scenario, checking <c>--run</c> names, the progress display.</summary>
internal static class ScenarioArguments
{
    /// <summary>Loads and validates the scenario; writes the reason and returns null when it cannot.</summary>
    public static async Task<Scenario?> LoadAsync(string command, FileInfo file, TextWriter error)
    {
        try
        {
            return Scenario.Load(file.FullName);
        }
        catch (Exception ex) when (ex is ArgumentException or RoutingOptionsException)
        {
            await error.WriteLineAsync($"gorgo {command}: {ex.Message}").ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>Whether every name in <paramref name="only"/> is a run of the scenario; writes the problem when not.</summary>
    public static async Task<bool> CheckRunsAsync(string command, Scenario scenario, IReadOnlyCollection<string> only, TextWriter error)
    {
        string[] unknown = only.Where(name => scenario.Runs.All(r => r.Name != name)).ToArray();
        if (unknown.Length == 0)
        {
            return true;
        }

        await error.WriteLineAsync($"gorgo {command}: unknown run(s) {string.Join(", ", unknown)}; the scenario has {string.Join(", ", scenario.Runs.Select(r => r.Name))}.").ConfigureAwait(false);
        return false;
    }

    /// <summary>The <c>--sweep</c> option both commands take.</summary>
    public static Option<string?> SweepOption(string example) => new("--sweep")
    {
        Description = $"Sweep one numeric scenario field, e.g. {example} (a unique suffix of the field's path is enough); load.rate, load.concurrency or trace.rateMultiplier gives a latency-versus-load curve.",
    };

    /// <summary>The scenarios to run: the loaded one, or one per swept value; writes the problem and returns null when the sweep is not valid.</summary>
    public static async Task<(Sweep? Sweep, List<(double Value, Scenario Scenario)> Points)?> PointsAsync(string command, Scenario scenario, string? sweep, TextWriter error)
    {
        if (sweep is null)
        {
            return (null, [(double.NaN, scenario)]);
        }

        try
        {
            Sweep swept = Sweep.Parse(sweep);
            return (swept, swept.Values.Select(v => (v, swept.Apply(scenario, v))).ToList());
        }
        catch (Exception ex) when (ex is ArgumentException or RoutingOptionsException)
        {
            await error.WriteLineAsync($"gorgo {command}: {ex.Message}").ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>Where one point's outputs go: the output directory itself, or a subdirectory named <c>field=value</c> in a sweep.</summary>
    public static string PointDirectory(string outDir, Sweep? sweep, double value) =>
        sweep is null ? outDir : Path.Combine(outDir, PointLabel(sweep, value));

    /// <summary>A point's label, <c>field=value</c> (empty without a sweep).</summary>
    public static string PointLabel(Sweep? sweep, double value) =>
        sweep is null ? string.Empty : $"{sweep.Path}={value.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Writes a sweep's table, JSON and plot and says so.</summary>
    public static void WriteSweep(IAnsiConsole console, string outDir, Sweep sweep, Scenario scenario, IReadOnlyList<(double Value, BenchSummary Summary)> results, bool simulated)
    {
        (string table, IReadOnlyList<string> files) = sweep.Write(outDir, scenario, results, simulated);
        console.WriteLine(table);
        console.WriteLine($"Wrote {string.Join(", ", files)} to {outDir}");
    }

    /// <summary>Runs <paramref name="work"/> under a progress display with a bar per run.</summary>
    public static async Task<T> WithProgressAsync<T>(IAnsiConsole console, string label, Func<IProgress<BenchProgress>, Task<T>> work)
    {
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var gate = new Lock();
                var progress = new Progress<BenchProgress>(p =>
                {
                    lock (gate)
                    {
                        if (!tasks.TryGetValue(p.Run, out ProgressTask? task))
                        {
                            tasks[p.Run] = task = context.AddTask(label + p.Run, maxValue: Math.Max(1, p.Total));
                        }

                        task.Description = p.Total > 0 ? $"{label}{p.Run} ({p.Phase})" : $"{label}{p.Run} ({p.Phase}, {p.Finished} done)";
                        task.IsIndeterminate = p.Total == 0 && p.Phase != "done"; // a closed loop bounded by time: no known end
                        task.Value = p.Total > 0 ? p.Finished : p.Phase == "done" ? task.MaxValue : 0;
                    }
                });
                result = await work(progress).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result;
    }
}
