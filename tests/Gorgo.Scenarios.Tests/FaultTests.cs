using System.Text.Json;
using Gorgo.Scenarios.Results;

namespace Gorgo.Scenarios.Tests;

/// <summary>Fault schedules are checked against the scenario, and fault outcomes are measured from the records.</summary>
public class FaultTests
{
    private static readonly string[] Regions = ["us-east", "eu-central", "ap-northeast"];
    private static readonly RunSpec[] MeshRun = [new() { Name = "m", Mode = DeploymentMode.Mesh, Policy = "gorgo" }];

    private static IEnumerable<string> Replicas(string region) => [region + "-1", region + "-2"];

    private static IReadOnlyList<string> Check(params FaultSpec[] faults) => FaultSchedule.Validate(faults, Regions, Replicas, MeshRun);

    [Fact]
    public void A_sound_schedule_has_no_problems()
    {
        Assert.Empty(Check(
            new FaultSpec { AtSeconds = 20, Kind = FaultKind.KillNode, Target = "eu-central" },
            new FaultSpec { AtSeconds = 50, Kind = FaultKind.RestartNode, Target = "eu-central" },
            new FaultSpec { AtSeconds = 60, Kind = FaultKind.StopNode, Target = "eu-central" },
            new FaultSpec { AtSeconds = 90, Kind = FaultKind.Partition, Target = "us-east", Peer = "ap-northeast" },
            new FaultSpec { AtSeconds = 95, Kind = FaultKind.SlowReplica, Target = "us-east-2", Factor = 2 }));
    }

    [Fact]
    public void Impossible_faults_are_each_named()
    {
        IReadOnlyList<string> errors = Check(
            new FaultSpec { AtSeconds = 1, Kind = FaultKind.RestartNode, Target = "eu-central" },
            new FaultSpec { AtSeconds = 2, Kind = FaultKind.KillNode, Target = "us-east" },
            new FaultSpec { AtSeconds = 3, Kind = FaultKind.KillNode, Target = "mars" },
            new FaultSpec { AtSeconds = 4, Kind = FaultKind.FailReplica, Target = "us-east-9" },
            new FaultSpec { AtSeconds = 5, Kind = FaultKind.Partition, Target = "us-east", Peer = "us-east" },
            new FaultSpec { AtSeconds = 6, Kind = FaultKind.SlowReplica, Target = "us-east-1", Factor = 0.5 },
            new FaultSpec { AtSeconds = 7, Kind = FaultKind.KillNode, Target = "ap-northeast" },
            new FaultSpec { AtSeconds = 8, Kind = FaultKind.StopNode, Target = "ap-northeast" });

        Assert.Contains(errors, e => e.Contains("restart-node eu-central", StringComparison.Ordinal) && e.Contains("only a node that a kill-node or stop-node took down", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("primary silo", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("kill-node mars", StringComparison.Ordinal) && e.Contains("must be a region", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("us-east-9", StringComparison.Ordinal) && e.Contains("replica id", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("peer must be another region", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("factor must be", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("stop-node ap-northeast", StringComparison.Ordinal) && e.Contains("already down", StringComparison.Ordinal));
        Assert.Equal(7, errors.Count);
    }

    [Fact]
    public void Faults_apply_to_mesh_runs_only()
    {
        RunSpec[] runs = [.. MeshRun, new RunSpec { Name = "p", Mode = DeploymentMode.Proxy, Policy = "gorgo" }];
        IReadOnlyList<string> errors = FaultSchedule.Validate([new FaultSpec { AtSeconds = 1, Kind = FaultKind.KillNode, Target = "eu-central" }], Regions, Replicas, runs);
        Assert.Contains(errors, e => e.Contains("mesh runs only", StringComparison.Ordinal));
    }

    [Fact]
    public void Fault_kinds_are_read_by_their_kebab_case_names()
    {
        var fault = JsonSerializer.Deserialize<FaultSpec>("""{"atSeconds": 3, "kind": "slow-replica", "target": "r", "factor": 2}""", Scenario.JsonOptions)!;
        Assert.Equal(FaultKind.SlowReplica, fault.Kind);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<FaultSpec>("""{"kind": "explode"}""", Scenario.JsonOptions));
    }

    private static RequestRecord Record(int index, double arrivalMs, string entry, string? served, double? ttftMs, double e2eMs, StreamEnding ending, string? tried = null) => new()
    {
        Run = "m",
        Index = index,
        UserRegion = entry,
        EntryRegion = entry,
        ArrivalMs = arrivalMs,
        ServedRegion = served,
        Replica = served is null ? null : served + "-1",
        TtftMs = ttftMs,
        E2eMs = e2eMs,
        Status = served is null ? 0 : 200,
        Completed = ending == StreamEnding.Done,
        Ending = ending,
        Tried = tried,
    };

    [Fact]
    public void A_kill_is_measured_by_what_was_in_flight_and_the_last_request_still_routed_to_the_dead_region()
    {
        var kill = new ExecutedFault(new FaultSpec { AtSeconds = 10, Kind = FaultKind.KillNode, Target = "eu-central" }, 10_000);
        var restart = new ExecutedFault(new FaultSpec { AtSeconds = 20, Kind = FaultKind.RestartNode, Target = "eu-central" }, 20_000);
        RequestRecord[] records =
        [
            Record(0, 9_000, "eu-central", "eu-central", 100, 2_000, StreamEnding.Cut), // at the killed node: lost with it
            Record(1, 9_500, "us-east", "eu-central", 200, 1_000, StreamEnding.ErrorEvent), // served there: ended cleanly
            Record(2, 9_600, "us-east", "us-east", 50, 900, StreamEnding.Done, tried: "eu-central-1"), // retried elsewhere
            Record(3, 8_000, "us-east", "us-east", 50, 500, StreamEnding.Done), // over before the kill
            Record(4, 12_500, "us-east", "us-east", 50, 500, StreamEnding.Done, tried: "eu-central-2"), // still routed there 2.5 s on
            Record(5, 14_000, "ap-northeast", "ap-northeast", 50, 500, StreamEnding.Done),
            Record(6, 21_000, "us-east", "eu-central", 3_500, 5_000, StreamEnding.Done), // after the restart: not dead routing
            Record(7, 22_000, "eu-central", "eu-central", 700, 1_000, StreamEnding.Done),
        ];
        RunSummary summary = FaultMetrics.Apply(RunSummary.From("m", "mesh", "gorgo", "gossip", "global", records), [kill, restart], records, id => id[..id.LastIndexOf('-')]);

        FaultOutcome k = summary.Faults![0];
        Assert.Equal((3, 1, 1, 1, 1), (k.InFlight, k.InFlightCompleted, k.InFlightFailedCleanly, k.InFlightLost, k.InFlightLostAtKilledEntry));
        Assert.Equal(2_500, k.DeadRoutedAfterMs);
        Assert.Equal(2_500, summary.DeadRoutedAfterMs);
        Assert.Equal(2_700, summary.Faults[1].RejoinedAfterMs); // request 6's first token at 24.5 s, request 7's at 22.7 s
        Assert.Equal(2_700, summary.RejoinedAfterMs);
    }

    [Fact]
    public void A_restarted_node_that_never_serves_has_no_rejoin_time()
    {
        var kill = new ExecutedFault(new FaultSpec { Kind = FaultKind.KillNode, Target = "eu-central" }, 0);
        var restart = new ExecutedFault(new FaultSpec { AtSeconds = 1, Kind = FaultKind.RestartNode, Target = "eu-central" }, 1_000);
        RequestRecord[] records = [Record(0, 2_000, "us-east", "us-east", 50, 500, StreamEnding.Done)];
        RunSummary summary = FaultMetrics.Apply(RunSummary.From("m", "mesh", "gorgo", "gossip", "global", records), [kill, restart], records, _ => null);

        Assert.Null(summary.RejoinedAfterMs);
        Assert.Equal(0, summary.DeadRoutedAfterMs);
    }
}
