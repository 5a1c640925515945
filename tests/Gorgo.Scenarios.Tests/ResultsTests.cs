using System.Text.Json;
using Gorgo.Scenarios.Results;

namespace Gorgo.Scenarios.Tests;

public class ResultsTests
{
    private static RequestRecord Done(string run, int i, double ttft, string user = "a", string served = "a", int cached = 50) => new()
    {
        Run = run, Index = i, UserRegion = user, Status = 200, Completed = true, TtftMs = ttft, E2eMs = ttft + 100,
        PromptTokens = 100, CachedTokens = cached, OutputTokens = 10, ServedRegion = served, StateAgeMs = i, HomeIdleOverride = served != user && i % 2 == 0,
    };

    [Fact]
    public void A_run_summary_counts_every_request_and_orders_its_percentiles()
    {
        var records = Enumerable.Range(0, 100).Select(i => Done("r", i, ttft: i + 1, served: i < 10 ? "b" : "a")).ToList();
        records.Add(new RequestRecord { Run = "r", Index = 100, UserRegion = "a", Status = 503, Error = "no healthy replica" });
        records.Add(new RequestRecord { Run = "r", Index = 101, UserRegion = "a", Status = 0, Error = "timed out" });

        RunSummary s = RunSummary.From("r", "mesh", "gorgo", "gossip", "global", records);

        Assert.Equal((102, 100, 2), (s.Requests, s.Completed, s.Failed));
        // Percentiles come from an HdrHistogram with three significant digits: within 0.1 % of the nearest rank.
        Assert.InRange(s.TtftMs.P50, 50, 50.05);
        Assert.InRange(s.TtftMs.P90, 90, 90.09);
        Assert.InRange(s.TtftMs.P99, 99, 99.1);
        Assert.Equal(50.5, s.TtftMs.Mean, 9);
        Assert.True(s.E2eMs.P50 <= s.E2eMs.P90 && s.E2eMs.P90 <= s.E2eMs.P99);
        Assert.Equal(0.5, s.PrefixHitRate, 9);
        Assert.Equal(0.10, s.CrossRegionFraction, 9);
        Assert.Equal(0.05, s.HomeIdleOverrideFraction, 9);
        Assert.Equal(new Dictionary<string, int> { ["0"] = 1, ["503"] = 1 }, s.FailuresByStatus);
        Assert.Equal(s.Completed, s.ServedByRegion.Values.Sum());
    }

    [Fact]
    public void Cut_and_timed_out_streams_count_as_lost_and_error_events_and_retries_are_counted_apart()
    {
        RequestRecord Make(int i, StreamEnding? ending, bool completed, double? ttft, int status = 200, int? attempts = 1) =>
            new() { Run = "r", Index = i, UserRegion = "a", Status = status, Completed = completed, TtftMs = ttft, E2eMs = ttft, ServedRegion = "a", Ending = ending, Attempts = attempts };
        RequestRecord[] records =
        [
            Make(0, StreamEnding.Done, true, 10),
            Make(1, StreamEnding.Done, true, 12, attempts: 2),
            Make(2, StreamEnding.Cut, false, 15),
            Make(3, StreamEnding.TimedOut, false, null),
            Make(4, StreamEnding.ErrorEvent, false, 20),
            Make(5, StreamEnding.Refused, false, null, status: 429, attempts: null),
            Make(6, null, false, null, status: 0, attempts: null),
        ];

        RunSummary s = RunSummary.From("r", "mesh", "gorgo", "gossip", "global", records);

        Assert.Equal(2, s.Lost);
        Assert.Equal(1, s.EndedWithErrorEvent);
        Assert.Equal(1, s.Retried);
        Assert.Equal(3, s.FailedBeforeFirstToken); // timed out before a token, refused, no response
        Assert.Equal(5, s.Failed);
        Assert.Equal(StreamEnding.NoResponse, records[6].EffectiveEnding);
    }

    [Fact]
    public void Regret_and_estimate_error_percentiles_cover_negative_values()
    {
        // Regrets of -150, -140, ..., 30 ms (19 values; a forecast can be pessimistic): median -60, P90 20, mean -60.
        RequestRecord[] records = Enumerable.Range(-15, 19).Select(i => new RequestRecord
        {
            Run = "r", Index = i + 15, UserRegion = "a", Completed = true, Status = 200, TtftMs = 500 + (10 * i), ServedRegion = i % 2 == 0 ? "b" : "a",
            BestForecastTtftMs = 500, BestHomeForecastTtftMs = 440, EstimatedTtftMs = 520,
        }).ToArray();

        RunSummary s = RunSummary.From("r", "mesh", "gorgo", "gossip", "global", records);

        Assert.Equal(-60, s.RegretMs!.Mean, 9);
        Assert.Equal(-60, s.RegretMs.P50, 0); // HdrHistogram keeps three significant digits
        Assert.Equal(20, s.RegretMs.P90, 0);
        Assert.Equal(30, s.RegretMs.P99, 0);
        Assert.Equal(-80, s.EstimateErrorMs!.P50, 0);

        // Harmful: served in b (another region) and slower than the best home forecast (440 ms).
        int harmful = records.Count(r => r.ServedRegion == "b" && r.TtftMs > 440);
        Assert.True(harmful > 0);
        Assert.Equal(harmful / 19.0, s.HarmfulForwardFraction!.Value, 6);
    }

    [Fact]
    public void The_writer_produces_every_output_with_one_csv_row_per_request()
    {
        string dir = Directory.CreateTempSubdirectory("gorgo-results").FullName;
        try
        {
            var records = Enumerable.Range(0, 20).Select(i => Done(i < 10 ? "one" : "two", i, ttft: 10 * i)).ToList();
            var summary = new BenchSummary
            {
                Scenario = "unit",
                Runs = [RunSummary.From("one", "mesh", "gorgo", "gossip", "global", records[..10]), RunSummary.From("two", "proxy", "gorgo", null, "global", records[10..])],
            };

            IReadOnlyList<string> files = ResultsWriter.Write(dir, summary, records);

            Assert.Equal(["report.md", "requests.csv", "summary.json", "ttft_cdf.png", "ttft_percentiles.png"], files.Select(Path.GetFileName).Order());
            Assert.Equal(21, File.ReadAllLines(Path.Combine(dir, "requests.csv")).Length);
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
            Assert.False(json.RootElement.GetProperty("simulated").GetBoolean());
            JsonElement run = json.RootElement.GetProperty("runs")[1];
            Assert.Equal("proxy", run.GetProperty("mode").GetString());
            Assert.Equal(JsonValueKind.Null, run.GetProperty("consistency").ValueKind);
            Assert.True(run.GetProperty("ttft_ms").GetProperty("p99").GetDouble() >= run.GetProperty("ttft_ms").GetProperty("p50").GetDouble());
            Assert.Contains("| two | proxy | gorgo | global | - | 10/10 |", File.ReadAllText(Path.Combine(dir, "report.md")));
            Assert.True(new FileInfo(Path.Combine(dir, "ttft_cdf.png")).Length > 1_000);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
