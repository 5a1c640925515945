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
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for summary.json, requests.csv, report.md and the plots.", Required = true };
        var runs = new Option<string[]>("--run") { Description = "Run only these runs (repeatable; default: all).", AllowMultipleArgumentsPerToken = true };
        var command = new Command("bench", "Replay a scenario's trace live against each run's deployment (mesh with a consistency setting, or the proxy) and compare TTFT, cache hits and forwarding.")
        {
            scenario, output, runs,
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

            IAnsiConsole console = CliConsole.For(parse.InvocationConfiguration.Output);
            var bench = new LiveBench(loaded, logging => logging.ClearProviders().SetMinimumLevel(LogLevel.Warning));
            BenchSummary? summary;
            List<RequestRecord> records;
            try
            {
                (summary, records) = await ScenarioArguments.WithProgressAsync(console, string.Empty, progress => bench.RunAsync(only, progress, cancellationToken)).ConfigureAwait(false);
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

            IReadOnlyList<string> files = ResultsWriter.Write(parse.GetValue(output)!.FullName, summary, records);
            console.WriteLine(ResultsWriter.Report(summary));
            console.WriteLine($"Wrote {string.Join(", ", files.Select(Path.GetFileName))} to {parse.GetValue(output)!.FullName}");
            return summary.Complete ? GorgoCommand.Ok : GorgoCommand.Failed;
        });
        return command;
    }
}
