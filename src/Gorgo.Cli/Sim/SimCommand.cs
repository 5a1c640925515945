using System.CommandLine;
using System.Globalization;
using Gorgo.Bench.Live;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Cli.Bench;
using Gorgo.Routing.Options;
using Gorgo.Simulator;
using Spectre.Console;

namespace Gorgo.Cli.Sim;

/// <summary><c>gorgo sim</c>: simulates a scenario's runs (plus the oracle) in virtual time, or sweeps one of its fields.</summary>
public static class SimCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var scenario = new Option<FileInfo>("--scenario", "-s") { Description = "Scenario file (the same files gorgo bench runs).", Required = true };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for summary.json, requests.csv, report.md and the plots (per swept value, plus sweep.md, sweep.json and the sweep's plot).", Required = true };
        var runs = new Option<string[]>("--run") { Description = "Simulate only these runs (repeatable; the oracle is always added).", AllowMultipleArgumentsPerToken = true };
        Option<string?> sweep = ScenarioArguments.SweepOption("gossip.intervalMs=50,200,1000,5000");
        var parallel = new Option<int>("--parallel") { Description = "Runs simulated at once (default: one per core).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("sim", "Simulate a scenario's runs in virtual time with the routing core and engine model unchanged, against a clairvoyant oracle; optionally sweep a field.")
        {
            scenario, output, runs, sweep, parallel,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter error = parse.InvocationConfiguration.Error;
            Scenario? loaded = await ScenarioArguments.LoadAsync("sim", parse.GetValue(scenario)!, error).ConfigureAwait(false);
            string[] only = parse.GetValue(runs) ?? [];
            if (loaded is null || !await ScenarioArguments.CheckRunsAsync("sim", loaded, only, error).ConfigureAwait(false))
            {
                return GorgoCommand.BadInput;
            }

            if (parse.GetValue(parallel) < 1)
            {
                await error.WriteLineAsync("gorgo sim: --parallel must be at least 1.").ConfigureAwait(false);
                return GorgoCommand.BadInput;
            }

            if (await ScenarioArguments.PointsAsync("sim", loaded, parse.GetValue(sweep), error).ConfigureAwait(false) is not { } plan)
            {
                return GorgoCommand.BadInput;
            }

            (Sweep? swept, List<(double Value, Scenario Scenario)> points) = plan;

            IAnsiConsole console = CliConsole.For(parse.InvocationConfiguration.Output);
            string outDir = parse.GetValue(output)!.FullName;
            var results = new List<(double Value, BenchSummary Summary)>();
            try
            {
                foreach ((double value, Scenario point) in points)
                {
                    string label = ScenarioArguments.PointLabel(swept, value);
                    SimulationResult result = await ScenarioArguments.WithProgressAsync(console, label.Length == 0 ? label : label + " ", progress =>
                        Task.Run(() => new Simulation(point).Run(only, progress, cancellationToken, parse.GetValue(parallel)), cancellationToken)).ConfigureAwait(false);
                    string dir = ScenarioArguments.PointDirectory(outDir, swept, value);
                    IReadOnlyList<string> files = ResultsWriter.Write(dir, result.Summary, result.Records, $"Simulation: {point.Name}{(swept is null ? string.Empty : $" ({label})")}");
                    console.WriteLine(ResultsWriter.Report(result.Summary));
                    SimulationStats stats = result.Summary.Simulation!;
                    console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Simulated {stats.Requests:N0} requests ({stats.VirtualSeconds:F0} virtual s) in {result.Summary.WallSeconds:F1} s: {stats.Events:N0} events, {stats.EventsPerSecond:N0} events/s, {stats.ParallelRuns} runs at once, peak memory {stats.PeakMemoryMiB:F0} MiB."));
                    if (stats.RunSeconds is { Count: > 0 } perRun)
                    {
                        console.WriteLine("Per run: " + string.Join(", ", perRun.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Key} {r.Value:F1} s"))) + ".");
                    }

                    console.WriteLine($"Wrote {string.Join(", ", files.Select(Path.GetFileName))} to {dir}");
                    results.Add((value, result.Summary));
                }
            }
            catch (OperationCanceledException)
            {
                await error.WriteLineAsync("gorgo sim: cancelled.").ConfigureAwait(false);
                return GorgoCommand.Failed;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or RoutingOptionsException)
            {
                await error.WriteLineAsync($"gorgo sim: {ex.Message}").ConfigureAwait(false);
                return GorgoCommand.Failed;
            }

            if (swept is not null)
            {
                ScenarioArguments.WriteSweep(console, outDir, swept, loaded, results, simulated: true);
            }

            return GorgoCommand.Ok;
        });
        return command;
    }
}
