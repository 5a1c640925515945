using System.Globalization;
using System.Text.Json;
using Gorgo.Routing.Decisions;
using Spectre.Console;

namespace Gorgo.Cli.Route;

/// <summary>Renders a routing decision as a table (for people) or JSON (for tools).</summary>
public static class DecisionReport
{
    /// <summary>The decision as indented JSON.</summary>
    public static string ToJson(RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var document = new
        {
            decision.Policy,
            decision.DecidingRegion,
            decision.PromptTokens,
            Chosen = decision.Chosen.ReplicaId,
            RunnerUp = decision.RunnerUp?.ReplicaId,
            decision.MatchedTokens,
            decision.StateAgeMs,
            decision.MaxStateAgeMs,
            decision.IsCrossRegion,
            Candidates = decision.Candidates.Select(c => new
            {
                c.ReplicaId,
                c.Region,
                c.IsHome,
                c.Health,
                c.MatchedTokens,
                c.UncachedTokens,
                c.OutstandingRequests,
                c.QueuedRequests,
                c.OutstandingTokens,
                c.PendingRequests,
                c.StateAgeMs,
                EstimatedTtftMs = new
                {
                    Total = Round(c.Estimate.TotalMs),
                    Network = Round(c.Estimate.NetworkMs),
                    Queue = Round(c.Estimate.QueueMs),
                    Prefill = Round(c.Estimate.PrefillMs),
                    Overhead = Round(c.Estimate.OverheadMs),
                },
            }),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions(FleetStateFile.JsonOptions) { WriteIndented = true });
    }

    /// <summary>Writes the decision as a summary line and a table of candidates, best estimate first.</summary>
    public static void Write(IAnsiConsole console, RoutingDecision decision)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(decision);
        CandidateScore chosen = decision.Chosen;
        console.MarkupLine(
            $"[bold]{Markup.Escape(decision.Policy)}[/] in [bold]{Markup.Escape(decision.DecidingRegion)}[/] routes a {decision.PromptTokens}-token prompt to " +
            $"[green bold]{Markup.Escape(chosen.ReplicaId)}[/] ({Markup.Escape(chosen.Region)}{(chosen.IsHome ? ", home" : ", cross-region")}): " +
            $"estimated TTFT {Ms(chosen.Estimate.TotalMs)} ms, {chosen.MatchedTokens} tokens cached, state {Ms(chosen.StateAgeMs)} ms old.");
        if (decision.RunnerUp is { } runnerUp)
        {
            console.MarkupLine($"Runner-up: [bold]{Markup.Escape(runnerUp.ReplicaId)}[/] ({Markup.Escape(runnerUp.Region)}), estimated TTFT {Ms(runnerUp.Estimate.TotalMs)} ms.");
        }

        var table = new Table().Border(TableBorder.Rounded);
        foreach (string column in new[] { "", "replica", "region", "TTFT ms", "network", "queue", "prefill", "overhead", "cached tok", "out req", "out tok", "age ms" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        table.Columns[1].LeftAligned();
        table.Columns[2].LeftAligned();
        IEnumerable<(CandidateScore Score, int Index)> rows = decision.Candidates
            .Select((c, i) => (c, i))
            .OrderBy(x => x.c.Estimate.TotalMs)
            .ThenBy(x => x.i);
        foreach ((CandidateScore c, int i) in rows)
        {
            string mark = i == decision.ChosenIndex ? "[green]*[/]" : i == decision.RunnerUpIndex ? "2" : "";
            table.AddRow(
                mark,
                Markup.Escape(c.ReplicaId),
                Markup.Escape(c.Region) + (c.IsHome ? " (home)" : ""),
                Ms(c.Estimate.TotalMs),
                Ms(c.Estimate.NetworkMs),
                Ms(c.Estimate.QueueMs),
                Ms(c.Estimate.PrefillMs),
                Ms(c.Estimate.OverheadMs),
                c.MatchedTokens.ToString(CultureInfo.InvariantCulture),
                c.OutstandingRequests.ToString(CultureInfo.InvariantCulture),
                c.OutstandingTokens.ToString(CultureInfo.InvariantCulture),
                Ms(c.StateAgeMs));
        }

        console.Write(table);
        console.MarkupLine("[grey]* chosen, 2 runner-up. TTFT ms = estimated network + queue + prefill + overhead; out = outstanding (running + queued + just routed).[/]");
    }

    private static double Round(double ms) => Math.Round(ms, 3);

    private static string Ms(double value) => value.ToString("F1", CultureInfo.InvariantCulture);
}
