using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Options;
using static Gorgo.Routing.Tests.TestFleet;

namespace Gorgo.Routing.Tests;

/// <summary>The learned allowance for requests forwarded to a region: what it learns, how it fades, and how a router prices remote replicas with it.</summary>
public sealed class TransitAllowanceTests
{
    private static readonly TransitAllowanceOptions Options = new();
    private readonly ManualClock _clock = new();

    [Fact]
    public void It_converges_on_the_mean_lateness_of_forwarded_requests_and_never_goes_below_zero()
    {
        var allowance = default(TransitAllowance);
        Assert.Equal(0, allowance.CurrentMs(0, Options));
        for (int i = 0; i < 200; i++)
        {
            allowance.Observe(i % 4 == 0 ? 1_600 : 0, i, Options); // one in four overtaken by 1.6 s: 400 ms on average
        }

        Assert.InRange(allowance.CurrentMs(200, Options), 250, 550);
        Assert.Equal(200, allowance.Observations);

        for (int i = 0; i < 200; i++)
        {
            allowance.Observe(-300, 200 + i, Options); // now every forwarded request starts sooner than estimated
        }

        Assert.Equal(0, allowance.CurrentMs(400, Options));
    }

    [Fact]
    public void Without_news_it_halves_every_half_life_so_a_region_it_priced_out_is_tried_again()
    {
        var allowance = default(TransitAllowance);
        for (int i = 0; i < 100; i++)
        {
            allowance.Observe(1_000, 0, Options);
        }

        double start = allowance.CurrentMs(0, Options);
        Assert.InRange(start, 990, 1_000);
        Assert.Equal(start / 2, allowance.CurrentMs((long)Options.HalfLifeMs, Options), 6);
        Assert.Equal(start / 8, allowance.CurrentMs(3 * (long)Options.HalfLifeMs, Options), 6);
    }

    [Fact]
    public void A_single_huge_residual_moves_it_by_at_most_its_bound_times_the_weight_and_nonsense_is_ignored()
    {
        var allowance = default(TransitAllowance);
        allowance.Observe(1e9, 0, Options);
        Assert.Equal(Options.MaxMs * Options.Weight, allowance.CurrentMs(0, Options), 6);

        allowance.Observe(double.NaN, 0, Options);
        allowance.Observe(double.PositiveInfinity, 0, Options);
        Assert.Equal(1, allowance.Observations);
    }

    [Fact]
    public void Invalid_settings_are_refused_with_the_key_named()
    {
        var bad = new CostModelOptions { TransitAllowance = new TransitAllowanceOptions { Weight = 0, HalfLifeMs = -1, MaxMs = double.NaN } };
        RoutingOptionsException error = Assert.Throws<RoutingOptionsException>(() => new CostModel(bad));
        Assert.Contains("TransitAllowance.Weight", error.Message);
        Assert.Contains("TransitAllowance.HalfLifeMs", error.Message);
        Assert.Contains("TransitAllowance.MaxMs", error.Message);
    }

    [Fact]
    public void A_router_that_saw_its_forwards_to_a_region_start_late_prices_that_region_higher_and_keeps_the_request_home()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("home", UsEast, _clock.NowMs, queued: 1, queuedTokens: 8_000)); // 240 ms of work queued at home
        router.Upsert(Replica("remote", EuCentral, _clock.NowMs));
        router.Upsert(Replica("far", ApNortheast, _clock.NowMs, queued: 2, queuedTokens: 30_000));
        int[] prompt = RandomTokens(2_000, 21);
        RoutingDecision before = router.Route(Request(prompt));
        Assert.Equal("remote", before.Chosen.ReplicaId);
        Assert.Equal(0, before.Chosen.TransitAllowanceMs);

        // Its forwards to eu-central started 1.5 s later than their estimates (work arriving there went ahead of them).
        for (int i = 0; i < 30; i++)
        {
            Assert.True(router.Observe("remote", 0, 60, 60 + 15 + 1_500));
        }

        RoutingDecision after = router.Route(Request(RandomTokens(2_000, 22)));
        Assert.Equal("home", after.Chosen.ReplicaId);
        CandidateScore remote = after.Candidates.Single(c => c.ReplicaId == "remote");
        Assert.InRange(remote.TransitAllowanceMs, 1_000, 1_500);
        Assert.Equal(15 + remote.TransitAllowanceMs, remote.Estimate.OverheadMs, 6);
        Assert.Equal(0, after.Candidates.Single(c => c.ReplicaId == "far").TransitAllowanceMs); // learned per region
        Assert.Equal(30, router.TransitAllowances()[EuCentral].Observations);
        Assert.False(router.TransitAllowances().ContainsKey(ApNortheast));
    }

    [Fact]
    public void Home_replicas_never_get_an_allowance_and_turned_off_it_is_learned_but_not_used()
    {
        Router off = Router(_clock, configure: o => o with { Cost = new CostModelOptions { TransitAllowance = new TransitAllowanceOptions { Enabled = false } } });
        off.Upsert(Replica("home", UsEast, _clock.NowMs));
        off.Upsert(Replica("remote", EuCentral, _clock.NowMs));
        for (int i = 0; i < 30; i++)
        {
            off.Observe("home", 0, 60, 2_000);
            off.Observe("remote", 0, 60, 2_000);
        }

        RoutingDecision d = off.Route(Request(RandomTokens(500, 23)));
        Assert.All(d.Candidates, c => Assert.Equal(0, c.TransitAllowanceMs));
        Assert.Equal([EuCentral], off.TransitAllowances().Keys);
        Assert.True(off.TransitAllowances()[EuCentral].AllowanceMs > 1_000);
    }

    [Fact]
    public void The_allowance_follows_its_region_when_the_rtt_matrix_is_replaced()
    {
        Router router = Router(_clock);
        router.Upsert(Replica("remote", EuCentral, _clock.NowMs));
        for (int i = 0; i < 30; i++)
        {
            router.Observe("remote", 0, 60, 1_000);
        }

        double learned = router.TransitAllowances()[EuCentral].AllowanceMs;
        router.UpdateRtt(RttMatrix.FromPairs(
        [
            (ApNortheast, ApNortheast, 3.8), (EuCentral, EuCentral, 4.0), (UsEast, UsEast, 5.3),
            (UsEast, EuCentral, 90), (UsEast, ApNortheast, 170), (EuCentral, ApNortheast, 230),
        ]));
        Assert.Equal(learned, router.TransitAllowances()[EuCentral].AllowanceMs);
    }
}
