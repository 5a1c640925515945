using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tests;

public class SlotWaitTests
{
    private static readonly CostInputs Idle = new(RttMs: 0, ClientLegMs: 0, QueuedTokens: 0, RunningTokens: 0, UncachedTokens: 0, PrefillMsPerToken: 0.1, Degraded: false, RunningPrefillTokens: 0);

    [Theory]
    [InlineData(9, 10, 0)]           // a slot is free
    [InlineData(10, 10, 100)]        // first in line: one of ten requests of 1 s finishes every 100 ms
    [InlineData(29, 10, 2_000)]      // twentieth in line
    public void A_full_batch_adds_the_wait_for_a_slot(int outstanding, int slots, double expectedMs)
    {
        var model = new CostModel(new CostModelOptions { FixedOverheadMs = 0 });
        TtftEstimate estimate = model.Estimate(Idle with { OutstandingRequests = outstanding, BatchSlots = slots, DecodeMsPerRequest = 1_000 });
        Assert.Equal(expectedMs, estimate.QueueMs, 9);
    }

    [Fact]
    public void A_measured_decode_time_already_holds_the_prefill_ahead_so_the_longer_of_the_two_counts()
    {
        var model = new CostModel(new CostModelOptions { FixedOverheadMs = 0 });
        CostInputs full = Idle with { OutstandingRequests = 10, BatchSlots = 10, DecodeMsPerRequest = 1_000 };
        Assert.Equal(100, model.Estimate(full with { QueuedTokens = 500 }).QueueMs, 9);    // 50 ms of prefill ahead: the slot is later
        Assert.Equal(300, model.Estimate(full with { QueuedTokens = 3_000 }).QueueMs, 9);  // 300 ms of prefill ahead: longer than the slot wait
    }

    [Fact]
    public void The_prefill_work_ahead_stretches_a_slot_wait_forecast_from_the_decode_step()
    {
        var model = new CostModel(new CostModelOptions { FixedOverheadMs = 0 });
        CostInputs full = Idle with { OutstandingRequests = 10, BatchSlots = 10, DecodeStepMs = 10, OutputTokens = 100 };
        Assert.Equal(150, model.Estimate(full with { QueuedTokens = 500 }).QueueMs, 9);    // 100 ms for a slot (decode alone), 50 ms of prefill steps ahead
        Assert.Equal(400, model.Estimate(full with { QueuedTokens = 3_000 }).QueueMs, 9);  // 100 ms for a slot, 300 ms of prefill steps ahead
        Assert.Equal(300, model.Estimate(full with { OutstandingRequests = 9, QueuedTokens = 3_000 }).QueueMs, 9); // a slot free: prefill alone
    }

    [Fact]
    public void Without_a_reported_decode_time_or_with_the_forecast_off_the_queue_term_is_the_papers()
    {
        CostInputs full = Idle with { OutstandingRequests = 30, BatchSlots = 10, QueuedTokens = 500 };
        Assert.Equal(50, new CostModel().Estimate(full).QueueMs, 9);
        Assert.Equal(50, new CostModel(new CostModelOptions { ForecastSlotWait = false }).Estimate(full with { DecodeMsPerRequest = 1_000 }).QueueMs, 9);
    }

    [Fact]
    public void A_home_replica_with_a_long_line_for_its_slots_loses_to_an_idle_remote_one()
    {
        RttMatrix rtt = RttMatrix.FromPairs([("home", "home", 1), ("away", "away", 1), ("home", "away", 90)]);
        ReplicaView Busy(double? decodeMs, long now) => new()
        {
            Id = "home-1", Region = "home", Model = "m", RunningRequests = 64, QueuedRequests = 64, RunningPrefillTokens = 0,
            QueuedTokens = 64 * 20, MaxRunningRequests = 64, PrefillMsPerToken = 0.03, DecodeMsPerRequest = decodeMs, TakenAtMs = now,
        };

        string Choice(double? decodeMs)
        {
            var router = new Router(new RouterOptions { Region = "home", Policy = new() { Name = "gorgo" } }, rtt);
            long now = router.NowMs;
            router.Upsert(Busy(decodeMs, now));
            router.Upsert(new ReplicaView { Id = "away-1", Region = "away", Model = "m", MaxRunningRequests = 64, PrefillMsPerToken = 0.03, DecodeMsPerRequest = decodeMs, TakenAtMs = now });
            var prompt = PromptBlocks.FromTokens(Enumerable.Range(0, 200).ToArray(), new BlockHasher(16));
            return router.Route(new RoutingRequest(prompt)).Chosen.ReplicaId;
        }

        Assert.Equal("home-1", Choice(decodeMs: null));   // 1,280 queued tokens: 38 ms of prefill ahead, less than 90 ms away
        Assert.Equal("away-1", Choice(decodeMs: 1_500));  // 65th in line for slots held 1.5 s each: about 1.5 s of waiting
    }

    [Fact]
    public void Before_the_replica_knows_its_decode_time_the_request_length_times_the_decode_step_stands_in()
    {
        var model = new CostModel(new CostModelOptions { FixedOverheadMs = 0 });
        CostInputs full = Idle with { OutstandingRequests = 10, BatchSlots = 10, DecodeStepMs = 10, OutputTokens = 100 };
        Assert.Equal(100, model.Estimate(full).QueueMs, 9);                                  // 1 s per request (100 × 10 ms) over ten slots
        Assert.Equal(20, model.Estimate(full with { DecodeMsPerRequest = 200 }).QueueMs, 9); // a reported decode time wins
        Assert.Equal(0, model.Estimate(full with { OutputTokens = 0 }).QueueMs, 9);          // no output length: no prior
    }

    [Fact]
    public void A_fresh_fleets_burst_spills_abroad_once_pending_requests_fill_the_home_slots()
    {
        RttMatrix rtt = RttMatrix.FromPairs([("home", "home", 1), ("away", "away", 1), ("home", "away", 90)]);
        int Spilled(double? stepMs)
        {
            var router = new Router(new RouterOptions { Region = "home", Policy = new() { Name = "gorgo" } }, rtt);
            long now = router.NowMs;
            foreach ((string id, string region) in (ReadOnlySpan<(string, string)>)[("home-1", "home"), ("away-1", "away")])
            {
                // Idle and fresh: nothing has finished, so no decode time per request is known yet.
                router.Upsert(new ReplicaView { Id = id, Region = region, Model = "m", MaxRunningRequests = 8, PrefillMsPerToken = 0.03, DecodeStepMs = stepMs, TakenAtMs = now });
            }

            var prompt = PromptBlocks.FromTokens(Enumerable.Range(0, 200).ToArray(), new BlockHasher(16));
            int away = 0;
            for (int i = 0; i < 16; i++)
            {
                away += router.Route(new RoutingRequest(prompt, MaxOutputTokens: 200)).Chosen.ReplicaId == "away-1" ? 1 : 0;
            }

            return away;
        }

        Assert.True(Spilled(stepMs: null) <= 1);  // no wait forecast: the burst stays home behind a full batch
        Assert.True(Spilled(stepMs: 10) >= 6);    // 200 tokens × 10 ms per slot: a line at home soon costs more than 90 ms
    }

    [Fact]
    public void A_negative_decode_time_is_an_invalid_view()
    {
        var view = new ReplicaView { Id = "r", Region = "a", Model = "m", DecodeMsPerRequest = -1 };
        Assert.Contains(view.Validate(), e => e.Contains("decode ms per request", StringComparison.Ordinal));
    }
}
