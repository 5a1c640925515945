using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Options;
using static Gorgo.Routing.Tests.TestFleet;

namespace Gorgo.Routing.Tests;

public class RouterTests
{
    private readonly ManualClock _clock = new();

    private long Now => _clock.NowMs;

    [Fact]
    public void Gorgo_stays_home_when_a_home_replica_is_idle_and_warm()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(4_000, 1);
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("home", Prompt(prompt).Hashes.Span);
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);

        RoutingDecision d = router.Route(Request(prompt));

        Assert.Equal("home", d.Chosen.ReplicaId);
        Assert.False(d.IsCrossRegion);
        Assert.Equal("remote", d.RunnerUp?.ReplicaId);
        Assert.Equal(4_000, d.MatchedTokens);
    }

    [Fact]
    public void A_replica_with_an_exact_cache_view_holds_what_its_engine_reported_not_what_was_routed_to_it()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("exact", UsEast, Now));
        router.Upsert(Replica("guessed", UsEast, Now));
        Assert.Equal(CacheViewKind.Decisions, router.CacheViewOf("exact"));
        Assert.True(router.SetCacheView("exact", CacheViewKind.Exact));
        Assert.False(router.SetCacheView("unknown", CacheViewKind.Exact));

        // Routed twice to each: the decision-based view learns the prompt, the exact one does not.
        int[] prompt = RandomTokens(2_000, 7);
        ulong[] hashes = Prompt(prompt).Hashes.ToArray();
        router.SetSuspended("guessed", suspended: true);
        Assert.Equal("exact", router.Route(Request(prompt)).Chosen.ReplicaId);
        router.SetSuspended("guessed", suspended: false);
        router.SetSuspended("exact", suspended: true);
        Assert.Equal("guessed", router.Route(Request(prompt)).Chosen.ReplicaId);
        Assert.Equal(0, router.CachedBlocks("exact"));
        Assert.Equal(hashes.Length, router.CachedBlocks("guessed"));

        // A prompt in the router's own rendering (chat through its template) is one no engine event describes: learnt.
        router.SetSuspended("exact", suspended: false);
        router.SetSuspended("guessed", suspended: true);
        Assert.Equal("exact", router.Route(Request(prompt) with { OwnRendering = true }).Chosen.ReplicaId);
        Assert.Equal(hashes.Length, router.CachedBlocks("exact"));

        // The engine's report replaces the whole view, and removals apply at once.
        router.RecordCached("exact", [42UL, 43UL]);
        Assert.True(router.ReplaceCached("exact", hashes));
        Assert.Equal(hashes.Order(), router.Summarize("exact").Hashes.Order());
        router.RemoveCached("exact", hashes[^1..]);
        Assert.Equal(hashes.Length - 1, router.CachedBlocks("exact"));
        Assert.Equal(new Dictionary<string, CacheViewKind> { ["exact"] = CacheViewKind.Exact, ["guessed"] = CacheViewKind.Decisions }, router.CacheViews());
    }

    [Fact]
    public void With_calibration_on_a_replica_slower_than_its_model_is_estimated_as_it_behaves()
    {
        Router router = Router(_clock, configure: o => o with { Cost = new CostModelOptions { Calibration = new CalibrationOptions { Enabled = true, MinObservations = 5 } } });
        router.Upsert(Replica("slow", UsEast, Now));
        router.Upsert(Replica("true", UsEast, Now));
        int[] prompt = RandomTokens(4_000, 11);
        RoutingDecision first = router.Route(Request(prompt));
        CandidateScore before = first.Candidates.Single(c => c.ReplicaId == "slow");
        Assert.Equal(first.Chosen.Estimate, first.ChosenModelEstimate); // nothing observed yet: the model as it is

        // "slow" takes three times what the model says, plus 50 ms; "true" takes what it says.
        for (int i = 0; i < 60; i++)
        {
            double queue = (i % 3) * 200;
            double prefill = 100 + (i * 37);
            Assert.True(router.Observe("slow", queue, prefill, (3 * (queue + prefill)) + 50));
            Assert.True(router.Observe("true", queue, prefill, queue + prefill + 15));
        }

        Assert.False(router.Observe("unknown", 0, 100, 100));
        IReadOnlyDictionary<string, TtftCalibration> fits = router.Calibrations();
        Assert.InRange(fits["slow"].PrefillGain, 2.8, 3.2);
        Assert.InRange(fits["true"].PrefillGain, 0.9, 1.1);
        CandidateScore after = router.Route(Request(RandomTokens(4_000, 12))).Candidates.Single(c => c.ReplicaId == "slow");
        Assert.InRange(after.Estimate.PrefillMs / after.UncachedTokens, 2.8 * before.Estimate.PrefillMs / before.UncachedTokens, 3.2 * before.Estimate.PrefillMs / before.UncachedTokens);
    }

    [Fact]
    public void With_calibration_on_a_replica_not_yet_observed_enough_uses_the_fit_pooled_over_the_others()
    {
        Router router = Router(_clock, configure: o => o with { Cost = new CostModelOptions { Calibration = new CalibrationOptions { Enabled = true, MinObservations = 5 } } });
        router.Upsert(Replica("seen", UsEast, Now));
        router.Upsert(Replica("unseen", UsEast, Now));
        for (int i = 0; i < 60; i++)
        {
            double prefill = 100 + (i * 37);
            Assert.True(router.Observe("seen", (i % 3) * 200, prefill, 2 * (((i % 3) * 200) + prefill)));
        }

        Assert.Equal(0, router.Calibrations()["unseen"].Observations);
        Assert.InRange(router.PooledCalibration.PrefillGain, 1.8, 2.2);
        TtftCalibration? inUse = router.CalibrationInUse("unseen");
        Assert.NotNull(inUse);
        Assert.Equal(router.PooledCalibration.PrefillGain, inUse.Value.PrefillGain);
        RoutingDecision d = router.Route(Request(RandomTokens(4_000, 13)));
        CandidateScore unseen = d.Candidates.Single(c => c.ReplicaId == "unseen");
        CandidateScore seen = d.Candidates.Single(c => c.ReplicaId == "seen");
        Assert.InRange(unseen.Estimate.PrefillMs / unseen.UncachedTokens, 0.95 * seen.Estimate.PrefillMs / seen.UncachedTokens, 1.05 * seen.Estimate.PrefillMs / seen.UncachedTokens);
    }

    [Fact]
    public void With_the_transit_allowance_in_use_a_remote_replicas_calibration_leaves_it_the_delay_it_prices()
    {
        // The same forwarded requests, each starting 800 ms later than the model says (work that arrived during its
        // transit), observed by a router whose allowance prices that delay and by one whose allowance is off.
        // Calibration is fitted in both but used in neither, so only the allowance differs; its overhead may reach 1 s.
        var calibration = new CalibrationOptions { MaxOverheadMs = 1_000 };
        Router priced = Router(_clock, configure: o => o with { Cost = new CostModelOptions { Calibration = calibration } });
        Router unpriced = Router(_clock, configure: o => o with { Cost = new CostModelOptions { Calibration = calibration, TransitAllowance = new TransitAllowanceOptions { Enabled = false } } });
        foreach (Router router in new[] { priced, unpriced })
        {
            router.Upsert(Replica("remote", EuCentral, Now));
            for (int i = 0; i < 300; i++)
            {
                double prefill = 100 + ((i % 10) * 50);
                Assert.True(router.Observe("remote", 0, prefill, prefill + 15 + 800));
            }
        }

        Assert.InRange(priced.Route(Request(RandomTokens(2_000, 14))).Candidates.Single(c => c.ReplicaId == "remote").TransitAllowanceMs, 700, 900);

        // Unpriced, the fit takes the delay as the engine's overhead; priced, most of it is left to the allowance
        // rather than counted twice.
        double withoutAllowance = unpriced.Calibrations()["remote"].OverheadMs;
        double withAllowance = priced.Calibrations()["remote"].OverheadMs;
        Assert.InRange(withoutAllowance, 15 + 700, 15 + 900);
        Assert.True(withAllowance < withoutAllowance - 400, $"fitted overhead {withAllowance:F0} ms with the allowance, {withoutAllowance:F0} ms without");
    }

    [Fact]
    public void An_unreachable_region_is_routed_around_including_its_replicas_learnt_later_until_it_is_reachable_again()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(8_000, 2);
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);
        Assert.Equal("remote", router.Route(Request(prompt)).Chosen.ReplicaId);

        Assert.True(router.SetRegionReachable(EuCentral, reachable: false));
        router.Upsert(Replica("remote-2", EuCentral, Now));
        RoutingDecision around = router.Route(Request(prompt));
        Assert.Equal("home", around.Chosen.ReplicaId);
        Assert.False(router.IsReachable(EuCentral));
        Assert.All(around.Candidates, c => Assert.NotEqual(EuCentral, c.Region));

        Assert.True(router.SetRegionReachable(EuCentral, reachable: true));
        Assert.Equal("remote", router.Route(Request(prompt)).Chosen.ReplicaId);
        Assert.False(router.SetRegionReachable("mars", reachable: false));
    }

    [Fact]
    public void A_retry_takes_the_next_best_untried_replica_that_is_neither_suspended_nor_cut_off()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("near", EuCentral, Now));
        router.Upsert(Replica("far", ApNortheast, Now));
        RoutingDecision d = router.Route(Request(RandomTokens(100, 5)));
        var tried = new List<string> { d.Chosen.ReplicaId };
        string[] byEstimate = d.Candidates.Where(c => c.ReplicaId != d.Chosen.ReplicaId).OrderBy(c => c.Estimate.TotalMs).Select(c => c.ReplicaId).ToArray();

        Assert.Equal(byEstimate[0], Retries.Next(d.Candidates, tried, router)?.ReplicaId);
        router.SetSuspended(byEstimate[0], suspended: true);
        Assert.Equal(byEstimate[1], Retries.Next(d.Candidates, tried, router)?.ReplicaId);
        router.SetRegionReachable(d.Candidates.Single(c => c.ReplicaId == byEstimate[1]).Region, reachable: false);
        Assert.Null(Retries.Next(d.Candidates, tried, router));
    }

    [Fact]
    public void After_a_transient_failure_with_every_replica_tried_a_retry_goes_back_to_the_best_of_them()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("only", EuCentral, Now));
        RoutingDecision d = router.Route(Request(RandomTokens(100, 6)));
        var tried = new List<string> { "only" };

        Assert.Null(Retries.Next(d.Candidates, tried, router));                                    // it answered with an error: not again
        Assert.Equal("only", Retries.Next(d.Candidates, tried, router, transient: true)?.ReplicaId); // it could not be reached: once more
        router.SetSuspended("only", suspended: true);
        Assert.Null(Retries.Next(d.Candidates, tried, router, transient: true));                   // not while its breaker is open
    }

    [Fact]
    public void Gorgo_forwards_when_a_remote_cache_saves_more_than_the_rtt()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(8_000, 2); // cold prefill at 0.03 ms/token = 240 ms > 92.8 ms RTT
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);

        RoutingDecision d = router.Route(Request(prompt));

        Assert.Equal("remote", d.Chosen.ReplicaId);
        Assert.True(d.IsCrossRegion);
        Assert.Equal(92.8, d.Chosen.Estimate.NetworkMs, 6);
        Assert.True(d.RunnerUp!.Value.Estimate.TotalMs - d.Chosen.Estimate.TotalMs > 0);
    }

    [Fact]
    public void Gorgo_stays_home_when_the_remote_cache_saves_less_than_the_rtt()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(2_000, 3); // cold prefill 60 ms < 92.8 ms RTT
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);

        Assert.Equal("home", router.Route(Request(prompt)).Chosen.ReplicaId);
    }

    [Fact]
    public void Gorgo_forwards_away_from_a_long_home_queue()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("home", UsEast, Now, running: 30, queued: 10, runningTokens: 30_000, queuedTokens: 10_000));
        router.Upsert(Replica("remote", EuCentral, Now));

        RoutingDecision d = router.Route(Request(RandomTokens(500, 4)));

        Assert.Equal("remote", d.Chosen.ReplicaId);
        Assert.Equal(0.03 * (10_000 + (0.5 * 30_000)), d.Candidates.Single(c => c.ReplicaId == "home").Estimate.QueueMs, 6);
    }

    [Fact]
    public void A_burst_between_load_reports_spreads_because_just_routed_work_counts()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("a", UsEast, Now));
        router.Upsert(Replica("b", UsEast, Now));

        var picks = Enumerable.Range(0, 10).Select(i => router.Route(Request(RandomTokens(1_000, 100 + i))).Chosen.ReplicaId).ToList();

        Assert.Equal(5, picks.Count(p => p == "a"));
        Assert.Equal(5, router.PendingRequests("a"));
        Assert.Equal(5, router.PendingRequests("b"));
    }

    [Fact]
    public void Pending_work_is_dropped_once_a_report_taken_after_its_arrival_comes_in()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("remote", EuCentral, Now));
        router.Route(Request(RandomTokens(1_000, 5)));
        Assert.Equal(1, router.PendingRequests("remote"));

        // Arrival is 46.4 ms (half the 92.8 ms RTT) after routing: a report from before then cannot include it.
        _clock.Advance(30);
        router.Upsert(Replica("remote", EuCentral, Now, queued: 0));
        Assert.Equal(1, router.PendingRequests("remote"));

        _clock.Advance(30);
        router.Upsert(Replica("remote", EuCentral, Now, queued: 1, queuedTokens: 1_000));
        Assert.Equal(0, router.PendingRequests("remote"));
    }

    [Fact]
    public void Requests_another_router_sent_count_until_a_report_reflects_them_and_spread_a_burst()
    {
        Router here = Router(_clock);
        Router there = Router(_clock, configure: o => o with { Region = EuCentral });
        foreach (Router r in new[] { here, there })
        {
            r.Upsert(Replica("a", UsEast, Now));
            r.Upsert(Replica("b", UsEast, Now));
        }

        // The other router sends two requests: one to each replica (just-routed work spreads a burst).
        there.Route(Request(RandomTokens(1_000, 40)));
        there.Route(Request(RandomTokens(1_000, 41)));
        var told = new List<PendingRequest>();
        there.ExportPending(told);
        Assert.Equal(["a", "b"], told.Select(p => p.ReplicaId).Order());
        Assert.All(told, p => Assert.True(p.ArrivesAtMs > Now && p.Tokens > 0));

        here.SetPeerPending(EuCentral, told);
        Assert.Equal((1, 1), (here.PeerPendingRequests("a"), here.PeerPendingRequests("b")));
        Assert.Equal((0, 0), (here.PendingRequests("a"), here.PendingRequests("b"))); // not its own
        RoutingDecision d = here.Route(Request(RandomTokens(1_000, 42)));
        Assert.All(d.Candidates, c => Assert.Equal(1, c.PendingRequests));

        // A newer list replaces the old; a report taken after the arrivals drops them.
        here.SetPeerPending(EuCentral, [.. told.Where(p => p.ReplicaId == "a")]);
        Assert.Equal((1, 0), (here.PeerPendingRequests("a"), here.PeerPendingRequests("b")));
        _clock.Advance(200);
        here.Upsert(Replica("a", UsEast, Now));
        here.Upsert(Replica("b", UsEast, Now));
        Assert.Equal(0, here.PeerPendingRequests("a") + here.PeerPendingRequests("b"));
    }

    [Fact]
    public void Peer_pending_work_moves_a_decision_off_the_replica_other_routers_are_filling()
    {
        Router counting = Router(_clock);
        Router ignoring = Router(_clock, configure: o => o with { CountPeerPendingWork = false });
        List<PendingRequest> others = [.. Enumerable.Range(0, 6).Select(i => new PendingRequest("a", Now + 50, 8_000))];
        foreach (Router r in new[] { counting, ignoring })
        {
            r.Upsert(Replica("a", UsEast, Now));
            r.Upsert(Replica("b", UsEast, Now, queued: 1, queuedTokens: 2_000));
            r.SetPeerPending(EuCentral, others);
        }

        Assert.Equal("a", ignoring.Route(Request(RandomTokens(1_000, 43))).Chosen.ReplicaId); // idle as far as its view says
        Assert.Equal("b", counting.Route(Request(RandomTokens(1_000, 43))).Chosen.ReplicaId); // six 8k-token prompts are on their way to a
    }

    [Fact]
    public void Pending_work_expires_when_no_report_ever_reflects_it()
    {
        Router router = Router(_clock, configure: o => o with { PendingTimeoutMs = 1_000, MaxStateAgeMs = 60_000 });
        router.Upsert(Replica("a", UsEast, Now));
        router.Route(Request(RandomTokens(1_000, 6)));
        _clock.Advance(1_001);
        RoutingDecision d = router.Route(Request(RandomTokens(1_000, 7)));
        Assert.Equal(0, d.Chosen.PendingRequests);
    }

    [Fact]
    public void The_same_snapshot_upserted_again_keeps_the_view_and_still_expires_pending_work()
    {
        Router router = Router(_clock, configure: o => o with { PendingTimeoutMs = 1_000, MaxStateAgeMs = 60_000 });
        ReplicaView view = Replica("a", UsEast, Now, queued: 2, queuedTokens: 700);
        router.Upsert(view);
        router.Route(Request(RandomTokens(1_000, 8)));
        Assert.Equal(1, router.PendingRequests("a"));

        _clock.Advance(1_001);
        Assert.True(router.Upsert(view)); // relayed again, e.g. by another gossip path
        Assert.Equal(0, router.PendingRequests("a")); // timed out, as with a new report
        Assert.Same(view, Assert.Single(router.Replicas));

        // A different snapshot is checked as always, even for a known replica.
        Assert.Throws<ArgumentException>(() => router.Upsert(view with { QueuedTokens = -1 }));
        Assert.Throws<ArgumentException>(() => router.Upsert(view with { Region = "mars", TakenAtMs = Now + 1 }));
    }

    [Fact]
    public void Routed_prompts_are_remembered_as_cached_on_the_chosen_replica()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("a", UsEast, Now));
        router.Upsert(Replica("b", UsEast, Now));
        int[] prompt = RandomTokens(3_200, 8);

        string first = router.Route(Request(prompt)).Chosen.ReplicaId;

        // Once fresh reports show both idle again, the remembered cache decides.
        _clock.Advance(100);
        router.Upsert(Replica("a", UsEast, Now));
        router.Upsert(Replica("b", UsEast, Now));
        RoutingDecision again = router.Route(Request(prompt));

        Assert.Equal(first, again.Chosen.ReplicaId);
        Assert.Equal(3_200, again.MatchedTokens);
        Assert.Equal(3_200, router.MatchedTokens(first, Prompt(prompt).Hashes.Span));
    }

    [Fact]
    public void Cache_events_of_a_replica_the_router_does_not_know_are_refused_without_error()
    {
        Router router = Router(_clock);
        Assert.False(router.TryRecordCached("a", [1UL, 2UL]));
        router.Upsert(Replica("a", UsEast, Now));
        Assert.Empty(router.Summarize("a").Hashes);
        Assert.True(router.TryRecordCached("a", [1UL, 2UL]));
        Assert.Equal([1UL, 2UL], router.Summarize("a").Hashes.Order());
    }

    [Fact]
    public void Learning_from_decisions_can_be_turned_off()
    {
        Router router = Router(_clock, configure: o => o with { LearnFromDecisions = false });
        router.Upsert(Replica("a", UsEast, Now));
        int[] prompt = RandomTokens(320, 9);
        router.Route(Request(prompt));
        Assert.Equal(0, router.Route(Request(prompt)).MatchedTokens);
    }

    [Fact]
    public void Decision_records_every_candidate_with_state_age_and_client_leg()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("a", UsEast, Now - 40));
        router.Upsert(Replica("b", ApNortheast, Now - 900));

        RoutingDecision d = router.Route(Request(RandomTokens(100, 10), clientRegion: EuCentral));

        Assert.Equal(2, d.Candidates.Count);
        Assert.Equal("gorgo", d.Policy);
        Assert.Equal(UsEast, d.DecidingRegion);
        Assert.Equal(Now, d.DecidedAtMs);
        Assert.Equal(40, d.Candidates.Single(c => c.ReplicaId == "a").StateAgeMs);
        Assert.Equal(900, d.MaxStateAgeMs);
        Assert.Equal(92.8 + 5.3, d.Candidates.Single(c => c.ReplicaId == "a").Estimate.NetworkMs, 6);
        Assert.Equal(92.8 + 178.6, d.Candidates.Single(c => c.ReplicaId == "b").Estimate.NetworkMs, 6);
    }

    [Fact]
    public void Stale_unhealthy_and_other_model_replicas_are_not_candidates()
    {
        Router router = Router(_clock, configure: o => o with { MaxStateAgeMs = 1_000 });
        router.Upsert(Replica("fresh", EuCentral, Now));
        router.Upsert(Replica("stale", UsEast, Now - 5_000));
        router.Upsert(Replica("down", UsEast, Now) with { Health = ReplicaHealth.Unhealthy });
        router.Upsert(Replica("draining", UsEast, Now) with { Health = ReplicaHealth.Draining });
        router.Upsert(Replica("other", UsEast, Now) with { Model = "other-model" });

        RoutingDecision d = router.Route(Request(RandomTokens(100, 11)));

        Assert.Equal(["fresh"], d.Candidates.Select(c => c.ReplicaId));
    }

    [Fact]
    public void Failures_say_why_no_replica_could_be_chosen()
    {
        Router router = Router(_clock);
        Assert.Equal(RoutingFailure.ModelNotFound, Assert.Throws<RoutingException>(() => router.Route(Request(RandomTokens(10, 1)))).Failure);

        router.Upsert(Replica("down", UsEast, Now) with { Health = ReplicaHealth.Unhealthy });
        Assert.Equal(RoutingFailure.NoHealthyReplica, Assert.Throws<RoutingException>(() => router.Route(Request(RandomTokens(10, 1)))).Failure);

        router.Upsert(Replica("short", UsEast, Now) with { MaxContextTokens = 100 });
        var tooLong = new RoutingRequest(Prompt(RandomTokens(90, 1)), Model, MaxOutputTokens: 20);
        Assert.Equal(RoutingFailure.PromptTooLong, Assert.Throws<RoutingException>(() => router.Route(tooLong)).Failure);

        router.Upsert(Replica("full", UsEast, Now, running: 2, queued: 4) with { MaxRunningRequests = 2, MaxQueuedRequests = 4 });
        Assert.Equal(RoutingFailure.Saturated, Assert.Throws<RoutingException>(() => router.Route(tooLong)).Failure);

        RoutingException unknown = Assert.Throws<RoutingException>(() => router.Route(new RoutingRequest(Prompt(RandomTokens(10, 1)), "nope")));
        Assert.Contains("'nope'", unknown.Message);
    }

    [Fact]
    public void A_replicas_room_is_its_batch_plus_its_queue_and_counts_requests_just_routed()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("a", UsEast, Now, running: 1) with { MaxRunningRequests = 2, MaxQueuedRequests = 2 });
        router.Route(Request(RandomTokens(10, 1)));
        router.Route(Request(RandomTokens(10, 2)));
        router.Route(Request(RandomTokens(10, 3)));
        Assert.Equal(RoutingFailure.Saturated, Assert.Throws<RoutingException>(() => router.Route(Request(RandomTokens(10, 4)))).Failure);
    }

    [Fact]
    public void Older_snapshots_do_not_replace_newer_ones()
    {
        Router router = Router(_clock);
        Assert.True(router.Upsert(Replica("a", UsEast, Now, queued: 3)));
        Assert.False(router.Upsert(Replica("a", UsEast, Now - 10, queued: 0)));
        Assert.Equal(3, router.Replicas.Single().QueuedRequests);
    }

    [Fact]
    public void Removing_a_replica_takes_it_out_of_routing_and_forgets_its_cache()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(320, 12);
        router.Upsert(Replica("a", UsEast, Now));
        router.Upsert(Replica("b", UsEast, Now));
        router.RecordCached("a", Prompt(prompt).Hashes.Span);

        Assert.True(router.Remove("a"));
        Assert.False(router.Remove("a"));
        RoutingDecision d = router.Route(Request(prompt));
        Assert.Equal("b", d.Chosen.ReplicaId);
        Assert.Equal(0, d.MatchedTokens);
    }

    [Fact]
    public void A_replacing_summary_becomes_the_replicas_whole_cache_view()
    {
        Router router = Router(_clock);
        int[] old = RandomTokens(640, 15), fresh = RandomTokens(640, 16);
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(old).Hashes.Span);

        router.ApplySummary(new Index.PrefixSummary("remote", Prompt(fresh).Hashes.ToArray()), Index.PrefixMergeMode.Replace);

        Assert.Equal(0, router.MatchedTokens("remote", Prompt(old).Hashes.Span));
        Assert.Equal(640, router.Route(Request(fresh)).MatchedTokens);
        Assert.Throws<ArgumentException>(() => router.ApplySummary(new Index.PrefixSummary("ghost", []), Index.PrefixMergeMode.Union));
    }

    [Fact]
    public void Home_only_scope_never_leaves_the_region()
    {
        Router router = Router(_clock);
        int[] prompt = RandomTokens(8_000, 21);
        router.Upsert(Replica("home", UsEast, Now, running: 60, queued: 30, runningTokens: 60_000, queuedTokens: 30_000));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);

        var request = Request(prompt) with { Scope = RoutingScope.HomeOnly };
        Assert.Equal("home", router.Route(request).Chosen.ReplicaId);
    }

    [Fact]
    public void Home_unless_saturated_stays_home_while_a_batch_slot_is_free_and_leaves_when_none_is()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("home", UsEast, Now, running: 62, queued: 0, runningTokens: 62_000) with { MaxRunningRequests = 64 });
        router.Upsert(Replica("remote", EuCentral, Now));
        var request = Request(RandomTokens(100, 22)) with { Scope = RoutingScope.LocalFirst };

        Assert.Equal("home", router.Route(request).Chosen.ReplicaId);          // 62 + 0 + 0 pending < 64
        Assert.Equal("home", router.Route(request).Chosen.ReplicaId);          // 62 + 1 pending < 64
        RoutingDecision third = router.Route(request);                         // 62 + 2 pending = 64: full
        Assert.Equal(["remote"], third.Candidates.Select(c => c.ReplicaId));
    }

    [Fact]
    public void Home_only_scope_without_home_replicas_is_a_clear_failure()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("remote", EuCentral, Now));
        RoutingException ex = Assert.Throws<RoutingException>(() => router.Route(Request(RandomTokens(10, 1)) with { Scope = RoutingScope.HomeOnly }));
        Assert.Equal(RoutingFailure.NoHealthyReplica, ex.Failure);
        Assert.Contains("in region 'us-east'", ex.Message);
    }

    [Fact]
    public void Updated_rtts_change_decisions()
    {
        Router router = Router(_clock, policy: "gorgo");
        int[] prompt = RandomTokens(8_000, 13);
        router.Upsert(Replica("home", UsEast, Now));
        router.Upsert(Replica("remote", EuCentral, Now));
        router.RecordCached("remote", Prompt(prompt).Hashes.Span);
        Assert.Equal("remote", router.Route(Request(prompt)).Chosen.ReplicaId);

        router.UpdateRtt(Rtt.With(UsEast, EuCentral, 400));
        router.RecordCached("home", Prompt(RandomTokens(16, 1)).Hashes.Span);
        Assert.Equal("home", router.Route(Request(RandomTokens(8_000, 14))).Chosen.ReplicaId);
    }

    [Fact]
    public void Bad_inputs_get_clear_exceptions()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("a", UsEast, Now));

        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => router.Upsert(Replica("neg", UsEast, Now, queued: -1))).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => router.Upsert(Replica("neg", UsEast, Now, runningTokens: -5))).Message);
        Assert.Contains("prefill ms per token", Assert.Throws<ArgumentException>(() => router.Upsert(Replica("nan", UsEast, Now, tp: double.NaN))).Message);
        Assert.Contains("'mars'", Assert.Throws<ArgumentException>(() => router.Upsert(Replica("x", "mars", Now))).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => router.Route(new RoutingRequest(new PromptBlocks(ReadOnlyMemory<ulong>.Empty, 0, 16)))).Message);
        Assert.Contains("8-token blocks", Assert.Throws<ArgumentException>(() => router.Route(new RoutingRequest(PromptBlocks.FromTokens(RandomTokens(64, 1), new BlockHasher(8))))).Message);
        Assert.Contains("client region", Assert.Throws<ArgumentException>(() => router.Route(Request(RandomTokens(10, 1), clientRegion: "mars"))).Message);
        Assert.Contains("Unknown replica", Assert.Throws<ArgumentException>(() => router.RecordCached("ghost", [1UL])).Message);
    }

    [Fact]
    public void Invalid_router_options_are_reported_at_construction()
    {
        var unknownPolicy = Assert.Throws<RoutingOptionsException>(() => Router(_clock, policy: "fastest"));
        Assert.Contains("Unknown policy 'fastest'", unknownPolicy.Message);

        var badRegion = Assert.Throws<RoutingOptionsException>(() => Router(_clock, region: "mars"));
        Assert.Contains("'mars' is not in the RTT matrix", badRegion.Message);

        var several = Assert.Throws<RoutingOptionsException>(() => Router(_clock, configure: o => o with { BlockSize = 0, MaxStateAgeMs = double.NaN }));
        Assert.Equal(2, several.Errors.Count);
    }

    [Fact]
    public void Runs_concurrent_updates_and_decisions_safely()
    {
        Router router = Router(_clock, policy: "least-load");
        for (int r = 0; r < 8; r++)
        {
            router.Upsert(Replica($"r{r}", r % 2 == 0 ? UsEast : EuCentral, Now));
        }

        int decisions = 0;
        Parallel.For(0, 2_000, i =>
        {
            if (i % 10 == 0)
            {
                router.Upsert(Replica($"r{i % 8}", (i % 8) % 2 == 0 ? UsEast : EuCentral, Now, queued: i % 5));
            }
            else
            {
                router.Route(Request(RandomTokens(64, i)));
                Interlocked.Increment(ref decisions);
            }
        });

        Assert.Equal(1_800, decisions);
        Assert.Equal(8, router.Replicas.Count);
    }

    [Fact]
    public void A_reused_decision_record_reads_as_a_new_one_and_routing_into_it_allocates_nothing()
    {
        // Two routers fed the same views: one writes every decision into one reused record, the other makes new ones.
        var clockA = new ManualClock();
        var clockB = new ManualClock();
        Router a = Router(clockA);
        Router b = Router(clockB);
        foreach (Router r in new[] { a, b })
        {
            for (int i = 0; i < 6; i++)
            {
                r.Upsert(Replica($"r{i}", i % 2 == 0 ? UsEast : EuCentral, clockA.NowMs, running: i, queued: i % 2));
            }
        }

        var record = new RoutingDecision();
        var random = new Random(3);
        for (int n = 0; n < 50; n++)
        {
            int[] prompt = RandomTokens(random.Next(100, 3_000), random.Next(5));
            RoutingDecision fresh = a.Route(Request(prompt));
            Assert.Same(record, b.Route(Request(prompt), record));
            Assert.Equal(fresh.Candidates, record.Candidates);
            Assert.Equal(fresh.Chosen, record.Chosen);
            Assert.Equal(fresh.RunnerUp, record.RunnerUp);
            Assert.Equal(fresh.PromptTokens, record.PromptTokens);
            Assert.Equal(fresh.ChosenModelEstimate, record.ChosenModelEstimate);
        }

        // A smaller fleet afterwards: the record lists only the candidates of its own decision.
        b.SetRegionReachable(EuCentral, reachable: false);
        RoutingDecision narrow = b.Route(Request(RandomTokens(500, 9)), record);
        Assert.Equal(3, narrow.Candidates.Count);
        Assert.All(narrow.Candidates, c => Assert.Equal(UsEast, c.Region));

        int[] warm = RandomTokens(2_000, 4);
        b.Route(Request(warm), record);
        RoutingRequest request = Request(warm);
        long before = GC.GetAllocatedBytesForCurrentThread();
        b.Route(request, record);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_failed_decision_leaves_the_reused_record_as_it_was()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("only", UsEast, Now));
        var record = new RoutingDecision();
        router.Route(Request(RandomTokens(300, 1)), record);
        CandidateScore chosen = record.Chosen;
        router.SetSuspended("only", suspended: true);

        Assert.Throws<RoutingException>(() => router.Route(Request(RandomTokens(300, 2)), record));
        Assert.Equal(chosen, record.Chosen);
        Assert.Single(record.Candidates);
    }

    [Fact]
    public void RouteChoice_chooses_as_Route_does_and_keeps_the_same_state()
    {
        // Two routers fed the same views and caches: one routes with full decision records, the other with bare choices.
        var clockA = new ManualClock();
        var clockB = new ManualClock();
        Router a = Router(clockA);
        Router b = Router(clockB);
        var random = new Random(7);
        string[] regions = [UsEast, EuCentral, ApNortheast];
        foreach (Router r in new[] { a, b })
        {
            for (int i = 0; i < 9; i++)
            {
                r.Upsert(Replica($"r{i}", regions[i % 3], clockA.NowMs, running: i % 4, queued: i % 2, runningTokens: 500 * i, queuedTokens: 300 * (i % 3)));
            }
        }

        var chosen = new HashSet<string>();
        for (int n = 0; n < 200; n++)
        {
            int[] prompt = RandomTokens(random.Next(100, 6_000), random.Next(12)); // few prompt families: caches get learned and shared
            string client = regions[random.Next(3)];
            RoutingDecision full = a.Route(Request(prompt, client));
            RoutedChoice bare = b.RouteChoice(Request(prompt, client));

            Assert.Equal(full.Chosen, bare.Chosen);
            Assert.Equal(full.Candidates.Count, bare.Candidates);
            Assert.Equal(full.IsHomeIdleOverrideFor(client), bare.HomeIdleOverride);
            Assert.Equal(a.PendingRequests(full.Chosen.ReplicaId), b.PendingRequests(bare.Chosen.ReplicaId));
            chosen.Add(bare.Chosen.ReplicaId);
            clockA.Advance(random.Next(0, 5));
            clockB.Advance(clockA.NowMs - clockB.NowMs);
        }

        Assert.True(chosen.Count > 3, $"the workload should spread over replicas (chose {string.Join(", ", chosen)})");
    }

    [Fact]
    public void Routers_deciding_on_one_thread_do_not_disturb_each_other()
    {
        // Decisions reuse per-thread buffers: a small router interleaved with a bigger one must decide exactly as an
        // identical small router deciding alone on its own thread.
        var clock = new ManualClock();
        Router big = Router(clock);
        Router small = Router(clock);
        Router alone = Router(clock);
        string[] regions = [UsEast, EuCentral, ApNortheast];
        for (int i = 0; i < 12; i++)
        {
            big.Upsert(Replica($"b{i}", regions[i % 3], clock.NowMs, running: i % 3, queuedTokens: 200 * i));
        }

        foreach (Router r in new[] { small, alone })
        {
            r.Upsert(Replica("s0", UsEast, clock.NowMs, running: 1));
            r.Upsert(Replica("s1", EuCentral, clock.NowMs, queuedTokens: 900));
        }

        var random = new Random(11);
        int[][] prompts = Enumerable.Range(0, 60).Select(i => RandomTokens(random.Next(50, 4_000), i % 5)).ToArray();
        var interleaved = new List<(string, int, int)>();
        foreach (int[] prompt in prompts)
        {
            big.RouteChoice(Request(prompt, EuCentral));
            RoutingDecision d = small.Route(Request(prompt, UsEast));
            big.Route(Request(prompt, ApNortheast));
            interleaved.Add((d.Chosen.ReplicaId, d.Chosen.MatchedTokens, d.Candidates.Count));
        }

        var lone = new List<(string, int, int)>();
        var thread = new Thread(() =>
        {
            foreach (int[] prompt in prompts)
            {
                RoutingDecision d = alone.Route(Request(prompt, UsEast));
                lone.Add((d.Chosen.ReplicaId, d.Chosen.MatchedTokens, d.Candidates.Count));
            }
        });
        thread.Start();
        thread.Join();

        Assert.Equal(lone, interleaved);
        Assert.Contains(interleaved, x => x.Item2 > 0); // caches were learned and matched
    }

    [Fact]
    public void Remote_replicas_in_their_own_sets_route_exactly_as_in_the_shared_map()
    {
        // One router keeps every replica in the shared block map, the other keeps remote ones in their own sets; both see
        // the same views, cache events, summaries (replace and union) and learn from the same decisions.
        var clockA = new ManualClock();
        var clockB = new ManualClock();
        Router shared = Router(clockA);
        Router own = Router(clockB, configure: o => o with { Index = new Index.PrefixIndexOptions { OwnSets = Index.PrefixOwnSets.Remote } });
        var random = new Random(5);
        string[] regions = [UsEast, EuCentral, ApNortheast];
        int[][] families = Enumerable.Range(0, 6).Select(f => RandomTokens(3_000, 50 + f)).ToArray();
        int[] Tokens() => families[random.Next(families.Length)][..random.Next(16, 3_000)];
        var chosen = new HashSet<string>();
        bool matchedAny = false;
        for (int n = 0; n < 300; n++)
        {
            string replica = $"r{random.Next(9)}";
            string region = regions[int.Parse(replica[1..]) % 3];
            ulong[] hashes = Prompt(Tokens()).Hashes.ToArray();
            foreach (Router r in new[] { shared, own })
            {
                r.Upsert(Replica(replica, region, clockA.NowMs, running: random.Next(3), queuedTokens: 100 * (n % 4)));
            }

            switch (random.Next(5))
            {
                case 0:
                    shared.RecordCached(replica, hashes);
                    own.RecordCached(replica, hashes);
                    break;
                case 1:
                    shared.RemoveCached(replica, hashes.AsSpan(hashes.Length / 2));
                    own.RemoveCached(replica, hashes.AsSpan(hashes.Length / 2));
                    break;
                case 2:
                    Index.PrefixMergeMode mode = random.Next(2) == 0 ? Index.PrefixMergeMode.Replace : Index.PrefixMergeMode.Union;
                    shared.ApplySummary(new Index.PrefixSummary(replica, hashes[..Math.Min(hashes.Length, 34)]), mode);
                    own.ApplySummary(new Index.PrefixSummary(replica, hashes[..Math.Min(hashes.Length, 34)]), mode);
                    break;
                default:
                    int[] prompt = Tokens();
                    string client = regions[random.Next(3)];
                    RoutingDecision a = shared.Route(Request(prompt, client));
                    RoutingDecision b = own.Route(Request(prompt, client));
                    Assert.Equal(a.Candidates.Select(c => (c.ReplicaId, c.MatchedTokens)), b.Candidates.Select(c => (c.ReplicaId, c.MatchedTokens)));
                    Assert.Equal(a.Chosen.ReplicaId, b.Chosen.ReplicaId);
                    chosen.Add(a.Chosen.ReplicaId);
                    matchedAny |= a.Chosen.MatchedTokens > 0;
                    break;
            }

            clockA.Advance(1);
            clockB.Advance(1);
        }

        Assert.True(chosen.Count > 1 && matchedAny, "the workload should spread and hit caches");
    }
}
