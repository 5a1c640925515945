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

                        task.Description = $"{label}{p.Run} ({p.Phase})";
                        task.Value = p.Finished;
                    }
                });
                result = await work(progress).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result;
    }
}
