using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Policies;

namespace Gorgo.Routing.Tests;

public class PolicyTests
{
    private static readonly PolicyContext Context = new(PromptTokens: 1_000);

    private static CandidateScore C(string id, bool home = true, int matched = 0, int requests = 0, long tokens = 0, double network = 5, double queue = 0, double prefill = 0) =>
        new(id, home ? "home" : "away", home, ReplicaHealth.Healthy, matched, 1_000 - matched, requests, 0, tokens, 0, 0, new TtftEstimate(network, queue, prefill, 0));

    [Fact]
    public void Round_robin_cycles_through_candidates()
    {
        IRoutingPolicy policy = PolicyCatalog.Create("round-robin");
        CandidateScore[] fleet = [C("a"), C("b"), C("c")];
        int[] picks = Enumerable.Range(0, 6).Select(_ => policy.Choose(fleet, Context).Chosen).ToArray();
        Assert.Equal([0, 1, 2, 0, 1, 2], picks);
        Assert.Equal(new PolicyChoice(0, -1), policy.Choose([C("only")], Context));
    }

    [Fact]
    public void Random_is_uniform_enough_and_reproducible_for_a_seed()
    {
        CandidateScore[] fleet = [C("a"), C("b"), C("c"), C("d")];
        int[] Picks(int seed)
        {
            IRoutingPolicy policy = PolicyCatalog.Create(new PolicyOptions { Name = "random", Seed = seed });
            return Enumerable.Range(0, 4_000).Select(_ => policy.Choose(fleet, Context)).Select(c =>
            {
                Assert.NotEqual(c.Chosen, c.RunnerUp);
                return c.Chosen;
            }).ToArray();
        }

        int[] first = Picks(7);
        Assert.Equal(first, Picks(7));
        Assert.All(first.CountBy(i => i), kv => Assert.InRange(kv.Value, 800, 1_200));
    }

    [Fact]
    public void Least_load_picks_fewest_outstanding_tokens_ignoring_network_and_cache()
    {
        CandidateScore[] fleet =
        [
            C("warm-near", matched: 900, tokens: 5_000, network: 1),
            C("cold-far", home: false, tokens: 1_000, network: 300),
            C("middle", tokens: 2_000),
        ];
        Assert.Equal(new PolicyChoice(1, 2), PolicyCatalog.Create("least-load").Choose(fleet, Context));
    }

    [Fact]
    public void Least_load_breaks_token_ties_by_request_count()
    {
        CandidateScore[] fleet = [C("a", requests: 5, tokens: 100), C("b", requests: 2, tokens: 100)];
        Assert.Equal(1, PolicyCatalog.Create("least-load").Choose(fleet, Context).Chosen);
    }

    [Fact]
    public void Prefix_picks_the_longest_match_and_breaks_ties_by_load()
    {
        CandidateScore[] fleet =
        [
            C("short", matched: 400, tokens: 0),
            C("long-busy", matched: 800, requests: 10, tokens: 9_000),
            C("long-idle", matched: 800, requests: 1, tokens: 1_000),
        ];
        Assert.Equal(new PolicyChoice(2, 1), PolicyCatalog.Create("prefix").Choose(fleet, Context));
    }

    [Fact]
    public void Prefix_falls_back_to_least_load_when_the_best_match_is_weak()
    {
        CandidateScore[] fleet = [C("weak-match", matched: 200, tokens: 5_000), C("idle", tokens: 0)];
        Assert.Equal(1, PolicyCatalog.Create("prefix").Choose(fleet, Context).Chosen);

        var strict = new PolicyOptions { Name = "prefix", Prefix = new PrefixPolicyOptions { MinMatchRatio = 0 } };
        Assert.Equal(0, PolicyCatalog.Create(strict).Choose(fleet, Context).Chosen);
    }

    [Fact]
    public void Prefix_falls_back_to_least_load_when_load_is_imbalanced()
    {
        CandidateScore[] fleet = [C("warm-swamped", matched: 900, requests: 100, tokens: 90_000), C("cold-idle", requests: 10, tokens: 9_000)];
        Assert.Equal(1, PolicyCatalog.Create("prefix").Choose(fleet, Context).Chosen);

        CandidateScore[] mild = [C("warm-busy", matched: 900, requests: 30, tokens: 30_000), C("cold-idle", requests: 10, tokens: 9_000)];
        Assert.Equal(0, PolicyCatalog.Create("prefix").Choose(mild, Context).Chosen);
    }

    [Fact]
    public void Power_of_two_returns_the_less_loaded_of_its_two_draws()
    {
        CandidateScore[] fleet = [C("a", tokens: 400), C("b", tokens: 100), C("c", tokens: 300), C("d", tokens: 200)];
        IRoutingPolicy policy = PolicyCatalog.Create(new PolicyOptions { Name = "power-of-two", Seed = 3 });
        var chosen = new HashSet<int>();
        for (int i = 0; i < 500; i++)
        {
            PolicyChoice c = policy.Choose(fleet, Context);
            Assert.NotEqual(c.Chosen, c.RunnerUp);
            Assert.True(fleet[c.Chosen].OutstandingTokens <= fleet[c.RunnerUp].OutstandingTokens);
            chosen.Add(c.Chosen);
        }

        Assert.DoesNotContain(0, chosen); // the most loaded can never win a pair
        Assert.Equal(3, chosen.Count);
    }

    [Fact]
    public void Gorgo_picks_the_minimum_estimate_and_names_the_runner_up()
    {
        CandidateScore[] fleet = [C("a", queue: 100), C("b", queue: 20), C("c", queue: 50)];
        Assert.Equal(new PolicyChoice(1, 2), PolicyCatalog.Create("gorgo").Choose(fleet, Context));
    }

    [Fact]
    public void Gorgo_prefers_home_on_equal_estimates()
    {
        CandidateScore[] fleet = [C("away", home: false, network: 50, queue: 0), C("home", network: 5, queue: 45)];
        Assert.Equal(new PolicyChoice(1, 0), PolicyCatalog.Create("gorgo").Choose(fleet, Context));
    }

    [Fact]
    public void Gorgo_margin_keeps_requests_home_unless_the_gain_exceeds_it()
    {
        CandidateScore[] fleet = [C("home", queue: 130), C("away", home: false, network: 90, queue: 0)]; // home 135, away 90: gain 45
        var margin = (double m) => PolicyCatalog.Create(new PolicyOptions { Gorgo = new GorgoPolicyOptions { CrossRegionMarginMs = m, StayWhenHomeIdle = false } });
        Assert.Equal(new PolicyChoice(1, 0), margin(0).Choose(fleet, Context));
        Assert.Equal(new PolicyChoice(1, 0), margin(44).Choose(fleet, Context));
        Assert.Equal(new PolicyChoice(0, 1), margin(45).Choose(fleet, Context));
    }

    [Fact]
    public void Gorgo_keeps_a_request_home_when_a_home_replica_has_nothing_queued_and_as_long_a_match()
    {
        IRoutingPolicy gorgo = PolicyCatalog.Create("gorgo");
        CandidateScore idleHome = C("home", queue: 300, matched: 64);
        CandidateScore away = C("away", home: false, network: 90, matched: 64);
        Assert.Equal(0, gorgo.Choose([idleHome, away], Context).Chosen);                                          // nothing queued, same match: stays
        Assert.Equal(1, gorgo.Choose([idleHome with { QueuedRequests = 1 }, away], Context).Chosen);              // something queued: the estimate decides
        Assert.Equal(1, gorgo.Choose([idleHome with { AtCapacity = true }, away], Context).Chosen);               // no free slot: the estimate decides
        Assert.Equal(1, gorgo.Choose([idleHome, away with { MatchedTokens = 128, UncachedTokens = 872 }], Context).Chosen); // remote has a longer match
        var proxyContext = new PolicyContext(1_000, ClientRegion: "away");
        Assert.Equal(1, gorgo.Choose([C("proxy-home", network: 1), C("away", home: false, network: 90, queue: 500)], proxyContext).Chosen); // the client's region, not the router's
    }

    [Fact]
    public void Gorgo_with_no_home_candidate_takes_the_best_remote()
    {
        CandidateScore[] fleet = [C("far", home: false, network: 180), C("near", home: false, network: 90)];
        Assert.Equal(new PolicyChoice(1, 0), PolicyCatalog.Create("gorgo").Choose(fleet, Context));
    }

    [Theory]
    [InlineData("round-robin")]
    [InlineData("random")]
    [InlineData("least-load")]
    [InlineData("prefix")]
    [InlineData("power-of-two")]
    [InlineData("gorgo")]
    [InlineData("GORGO")]
    public void Every_listed_name_creates_its_policy(string name)
    {
        IRoutingPolicy policy = PolicyCatalog.Create(name);
        Assert.Equal(name.ToLowerInvariant(), policy.Name);
        Assert.Contains(policy.Name, PolicyCatalog.Names);
    }

    [Fact]
    public void Unknown_policy_names_list_the_known_ones()
    {
        var ex = Assert.Throws<ArgumentException>(() => PolicyCatalog.Create("fastest"));
        Assert.Contains("Unknown policy 'fastest'", ex.Message);
        Assert.Contains("least-load", ex.Message);
    }

    [Fact]
    public void Invalid_policy_settings_are_reported()
    {
        var options = new PolicyOptions
        {
            Prefix = new PrefixPolicyOptions { MinMatchRatio = 2, BalanceRelThreshold = 0.5 },
            Gorgo = new GorgoPolicyOptions { CrossRegionMarginMs = double.NaN },
        };
        Assert.Equal(3, options.Validate().Count);
    }
}
