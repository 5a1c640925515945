using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using static Gorgo.Engine.Tests.EngineTestSupport;

namespace Gorgo.Engine.Tests;

public class EngineCoreTests
{
    private static RequestTiming Single(EngineCore core, EngineRequest request, double at = 0) =>
        VirtualEngineRun.Run(core, [(at, request)]).Single();

    [Fact]
    public void An_idle_engine_answers_after_exactly_the_profiles_prefill_time()
    {
        var core = new EngineCore(Simple());
        RequestTiming t = Single(core, Request(1, Tokens(1_000, 1), maxTokens: 3));

        Assert.Equal(5 + (0.1 * 1_000), t.TtftMs, 9);               // a + b·u
        Assert.Equal(5, t.MeanInterTokenMs, 9);                      // d per decode step
        Assert.Equal(3, t.GeneratedTokens);
    }

    [Fact]
    public void Ttft_grows_with_uncached_tokens()
    {
        double Ttft(int tokens) => Single(new EngineCore(Simple()), Request(1, Tokens(tokens, 2))).TtftMs;
        Assert.True(Ttft(100) < Ttft(1_000));
        Assert.True(Ttft(1_000) < Ttft(3_000));
    }

    [Fact]
    public void The_attention_term_makes_long_prompts_superlinear()
    {
        EngineProfile profile = Simple(k: 1e-4);
        double ttft = Single(new EngineCore(profile), Request(1, Tokens(2_000, 3))).TtftMs;
        Assert.Equal(profile.PrefillStepMs(2_000, 0), ttft, 9);
        Assert.Equal(5 + 200 + (1e-4 * 2_000 * 1_000), ttft, 9);
    }

    [Fact]
    public void Ttft_grows_with_the_queue_ahead()
    {
        var core = new EngineCore(Simple(maxRunning: 1));
        var arrivals = Enumerable.Range(0, 4).Select(i => (0.0, Request(i, Tokens(500, 10 + i), maxTokens: 2))).ToList();
        double[] ttfts = VirtualEngineRun.Run(core, arrivals).OrderBy(t => t.RequestId).Select(t => t.TtftMs).ToArray();

        for (int i = 1; i < ttfts.Length; i++)
        {
            Assert.True(ttfts[i] > ttfts[i - 1], $"request {i} should wait behind request {i - 1}");
        }
    }

    [Fact]
    public void A_cache_hit_cuts_ttft_by_the_prefill_time_of_the_cached_tokens()
    {
        var core = new EngineCore(Simple());
        int[] shared = Tokens(1_600, 4);
        int[] first = [.. shared, .. Tokens(200, 5)];
        int[] second = [.. shared, .. Tokens(200, 6)];

        RequestTiming cold = Single(core, Request(1, first));
        RequestTiming warm = Single(core, Request(2, second), at: 10_000);

        Assert.Equal(0, cold.CachedTokens);
        Assert.Equal(1_600, warm.CachedTokens);
        Assert.Equal(0.1 * 1_600, cold.TtftMs - warm.TtftMs, 6);
        Assert.Equal(1_600, core.State.PrefixHitTokens);
        Assert.Equal(3_600, core.State.PrefixQueryTokens);
    }

    [Fact]
    public void A_fully_cached_prompt_still_computes_its_last_token()
    {
        var core = new EngineCore(Simple());
        int[] prompt = Tokens(320, 7);
        Single(core, Request(1, prompt));
        RequestTiming again = Single(core, Request(2, prompt), at: 1_000);
        Assert.Equal(319, again.CachedTokens);
        Assert.Equal(5 + 0.1, again.TtftMs, 9);
    }

    [Fact]
    public void The_batch_cap_queues_work()
    {
        var core = new EngineCore(Simple(maxRunning: 2));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(EngineRejection.None, core.Submit(Request(i, Tokens(100, i), maxTokens: 10), 0));
        }

        core.PlanStep(0);
        Assert.Equal(2, core.State.RunningRequests);
        Assert.Equal(3, core.State.WaitingRequests);
        Assert.Equal(300, core.State.WaitingTokens);
        Assert.Equal(200, core.State.RunningTokens);
    }

    [Fact]
    public void Long_prompts_are_prefilled_in_chunks_alongside_decoding()
    {
        var core = new EngineCore(Simple(chunk: 512, budget: 512));
        var arrivals = new List<(double, EngineRequest)> { (0, Request(1, Tokens(100, 1), maxTokens: 50)), (20, Request(2, Tokens(2_000, 2), maxTokens: 2)) };
        var tokens = new List<TokenOutput>();
        IReadOnlyList<RequestTiming> done = VirtualEngineRun.Run(core, arrivals, tokens);

        RequestTiming longOne = done.Single(t => t.RequestId == 2);

        // 2,000 tokens in chunks of at most 511 (one budget token goes to the decoding request): four steps.
        Assert.True(longOne.TtftMs > 4 * 5, "a chunked prefill spans several steps");
        double[] decodeGaps = tokens.Where(t => t.RequestId == 1).Select(t => t.AtMs).Zip(tokens.Where(t => t.RequestId == 1).Skip(1).Select(t => t.AtMs), (a, b) => b - a).ToArray();
        Assert.True(decodeGaps.Max() < 5 + (0.1 * 512) + 1e-9, "request 1 keeps decoding during request 2's prefill, one chunk per step");
    }

    [Fact]
    public void Runs_with_one_seed_are_identical_and_other_seeds_differ()
    {
        List<RequestTiming> Run(int seed)
        {
            var core = new EngineCore(EngineProfile.Load("h100-8b"), stepJitter: 0.1, seed: seed);
            var arrivals = Enumerable.Range(0, 40).Select(i => (i * 7.0, Request(i, Tokens(300 + (i * 37 % 900), i), maxTokens: 20))).ToList();
            return [.. VirtualEngineRun.Run(core, arrivals)];
        }

        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }

    [Fact]
    public void Cancelling_frees_the_batch_slot_and_the_blocks()
    {
        var core = new EngineCore(Simple(maxRunning: 1));
        core.Submit(Request(1, Tokens(160, 1), maxTokens: 1_000), 0);
        core.Submit(Request(2, Tokens(160, 2), maxTokens: 1), 0);
        core.PlanStep(0);
        core.CompleteStep(21, [], []);
        Assert.Equal(1, core.State.RunningRequests);
        Assert.True(core.State.KvUtilization > 0);

        Assert.True(core.Cancel(1));
        Assert.False(core.Cancel(1));
        Assert.Equal(0, core.State.RunningRequests);
        core.PlanStep(21);
        Assert.Equal(1, core.State.RunningRequests); // request 2 got the slot
    }

    [Fact]
    public void Cancelling_during_a_step_drops_the_request_when_the_step_completes()
    {
        var core = new EngineCore(Simple());
        core.Submit(Request(1, Tokens(160, 1), maxTokens: 100), 0);
        core.PlanStep(0);
        core.Cancel(1);
        var tokens = new List<TokenOutput>();
        core.CompleteStep(21, tokens, []);
        Assert.Empty(tokens);
        Assert.Equal(0, core.State.RunningRequests);
        Assert.Equal(0, core.Cache.UsedBlocks);
        Assert.False(core.HasWork);
    }

    [Fact]
    public void Requests_that_cannot_fit_are_refused()
    {
        var core = new EngineCore(Simple(kvBlocks: 64)); // 1,024 tokens
        Assert.Equal(EngineRejection.ContextTooLong, core.Submit(Request(1, Tokens(1_000, 1), maxTokens: 100), 0));
        Assert.Equal(EngineRejection.Invalid, core.Submit(Request(2, Tokens(10, 1), maxTokens: 0), 0));
        Assert.Equal(EngineRejection.None, core.Submit(Request(3, Tokens(10, 1)), 0));
        Assert.Equal(EngineRejection.DuplicateId, core.Submit(Request(3, Tokens(10, 1)), 0));
    }

    [Fact]
    public void Requests_wait_for_kv_room_instead_of_failing()
    {
        var core = new EngineCore(Simple(kvBlocks: 40)); // 640 tokens: two requests of 21 blocks each cannot run together
        var arrivals = new List<(double, EngineRequest)> { (0, Request(1, Tokens(320, 1), maxTokens: 8)), (0, Request(2, Tokens(320, 2), maxTokens: 8)) };
        IReadOnlyList<RequestTiming> done = VirtualEngineRun.Run(core, arrivals);
        Assert.Equal(2, done.Count);
        Assert.True(done.Single(t => t.RequestId == 2).AdmittedMs >= done.Single(t => t.RequestId == 1).FinishedMs);
    }

    [Fact]
    public void Cache_events_are_numbered_and_describe_stores_and_evictions()
    {
        var core = new EngineCore(Simple(kvBlocks: 30));
        VirtualEngineRun.Run(core, [(0, Request(1, Tokens(320, 1), maxTokens: 1))]);   // 20 blocks stored
        VirtualEngineRun.Run(core, [(100, Request(2, Tokens(320, 2), maxTokens: 1))]); // needs 21: evicts 11
        var events = new List<CacheEvent>();
        core.DrainCacheEvents(events);

        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal(40, events.Count(e => e.Kind == CacheEventKind.Stored));
        Assert.Equal(11, events.Count(e => e.Kind == CacheEventKind.Removed));
        Assert.Equal(core.Cache.LastEventSequence, events[^1].Sequence);
    }

    [Fact]
    public void Shipped_profiles_load_and_invalid_ones_are_rejected()
    {
        Assert.Equal(0.094, EngineProfile.Load("a100-7b").PrefillMsPerToken);
        Assert.Equal(0.030, EngineProfile.Load("h100-8b").PrefillMsPerToken);
        Assert.Contains("Unknown engine profile", Assert.Throws<ArgumentException>(() => EngineProfile.Load("tpu-9000")).Message);
        var bad = Assert.Throws<Routing.Options.RoutingOptionsException>(() => new EngineCore(Simple() with { MaxRunningRequests = 0, PrefillMsPerToken = double.NaN }));
        Assert.Contains(bad.Errors, e => e.Contains("maxRunningRequests"));
        Assert.Contains(bad.Errors, e => e.Contains("prefillMsPerToken"));
    }

    [Fact]
    public void A_forecast_predicts_the_first_token_of_a_request_exactly_and_changes_nothing()
    {
        EngineProfile profile = Simple(maxRunning: 2, chunk: 512, budget: 1_024);
        EngineRequest Load(long id) => Request(id, Tokens(1_500, (int)id), maxTokens: 20);
        EngineRequest probe = Request(99, Tokens(800, 99), maxTokens: 4);

        var core = new EngineCore(profile);
        core.Submit(Load(1), 0);
        core.Submit(Load(2), 0);
        core.Submit(Load(3), 0);
        double stepEnds = core.PlanStep(0)!.Value;
        EngineState before = core.State;
        double forecast = core.ForecastFirstTokenMs(probe, 0, 10, stepEnds, alsoArriving: [(Load(4), 5)]);
        Assert.Equal(before, core.State);

        var reality = new EngineCore(profile);
        IReadOnlyList<RequestTiming> done = VirtualEngineRun.Run(reality, [(0, Load(1)), (0, Load(2)), (0, Load(3)), (5, Load(4)), (10, probe)]);
        Assert.Equal(done.Single(t => t.RequestId == 99).FirstTokenMs, forecast, 6);
    }

    [Fact]
    public void A_forecast_counts_the_prefix_already_cached_and_gives_up_past_its_horizon()
    {
        EngineProfile profile = Simple();
        int[] shared = Tokens(2_000, 7);
        var core = new EngineCore(profile);
        VirtualEngineRun.Run(core, [(0, Request(1, shared, maxTokens: 1))]);
        EngineRequest again = Request(2, [.. shared, .. Tokens(100, 8)], maxTokens: 1);
        EngineRequest fresh = Request(3, Tokens(2_100, 9), maxTokens: 1);

        double hit = core.ForecastFirstTokenMs(again, 1_000, 1_000, null);
        double miss = core.ForecastFirstTokenMs(fresh, 1_000, 1_000, null);

        Assert.Equal(1_000 + profile.PrefillStepMs(100, 2_000), hit, 6); // the 125 shared blocks are cached
        Assert.Equal(1_000 + profile.PrefillStepMs(2_100, 0), miss, 6);
        Assert.Equal(double.PositiveInfinity, core.ForecastFirstTokenMs(fresh, 1_000, 1_000, null, horizonMs: 1_001));
    }
}
