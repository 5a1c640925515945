using System.CommandLine;
using Gorgo.Bench.Live;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios;
using Gorgo.Routing.Options;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Gorgo.Cli.Bench;

/// <summary><c>gorgo bench</c>: replays a scenario live against each of its deployments and compares them.</summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var scenario = new Option<FileInfo>("--scenario", "-s") { Description = "Scenario file (see benchmarks/README.md for the schema; shipped: benchmarks/scenarios/*.json).", Required = true };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for summary.json, requests.csv, report.md and the plots (per swept value, plus sweep.md, sweep.json and the sweep's plot).", Required = true };
        var runs = new Option<string[]>("--run") { Description = "Run only these runs (repeatable; default: all).", AllowMultipleArgumentsPerToken = true };
        Option<string?> sweep = ScenarioArguments.SweepOption("load.concurrency=5,10,25");
        var command = new Command("bench", "Replay a scenario's workload live against each run's deployment (mesh with a consistency setting, or the proxy) and compare TTFT, cache hits and forwarding; optionally sweep a field.")
        {
            scenario, output, runs, sweep,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter error = parse.InvocationConfiguration.Error;
            Scenario? loaded = await ScenarioArguments.LoadAsync("bench", parse.GetValue(scenario)!, error).ConfigureAwait(false);
            string[] only = parse.GetValue(runs) ?? [];
            if (loaded is null || !await ScenarioArguments.CheckRunsAsync("bench", loaded, only, error).ConfigureAwait(false))
            {
                return GorgoCommand.BadInput;
            }

            if (await ScenarioArguments.PointsAsync("bench", loaded, parse.GetValue(sweep), error).ConfigureAwait(false) is not { } plan)
            {
                return GorgoCommand.BadInput;
            }

            (Sweep? swept, List<(double Value, Scenario Scenario)> points) = plan;
            IAnsiConsole console = CliConsole.For(parse.InvocationConfiguration.Output);
            string outDir = parse.GetValue(output)!.FullName;
            var results = new List<(double Value, BenchSummary Summary)>();
            bool complete = true;
            foreach ((double value, Scenario point) in points)
            {
                string label = ScenarioArguments.PointLabel(swept, value);
                var bench = new LiveBench(point, logging => logging.ClearProviders().SetMinimumLevel(LogLevel.Warning));
                BenchSummary? summary;
                List<RequestRecord> records;
                try
                {
                    (summary, records) = await ScenarioArguments.WithProgressAsync(console, label.Length == 0 ? label : label + " ", progress => bench.RunAsync(only, progress, cancellationToken)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or RoutingOptionsException)
                {
                    await error.WriteLineAsync($"gorgo bench: {ex.Message}").ConfigureAwait(false);
                    return GorgoCommand.Failed;
                }

                if (summary is null)
                {
                    await error.WriteLineAsync("gorgo bench: no run finished.").ConfigureAwait(false);
                    return GorgoCommand.Failed;
                }

                string dir = ScenarioArguments.PointDirectory(outDir, swept, value);
                IReadOnlyList<string> files = ResultsWriter.Write(dir, summary, records, swept is null ? null : $"Benchmark: {point.Name} ({label})");
                console.WriteLine(ResultsWriter.Report(summary));
                console.WriteLine($"Wrote {string.Join(", ", files.Select(Path.GetFileName))} to {dir}");
                results.Add((value, summary));
                complete &= summary.Complete;
                if (!summary.Complete)
                {
                    break; // stopped or cut short: later load steps would not be comparable
                }
            }

            if (swept is not null)
            {
                ScenarioArguments.WriteSweep(console, outDir, swept, loaded, results, simulated: false);
            }

            return complete ? GorgoCommand.Ok : GorgoCommand.Failed;
        });
        return command;
    }
}
