using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Hosting;
using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.KvEvents;
using Gorgo.Replica.Server;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Gorgo.Mesh.Tests;

/// <summary>
/// A mesh node in front of two emulated replicas reached over HTTP, each publishing its KV events over ZeroMQ: the
/// node's view of each replica's cache follows the engine's actual blocks, through evictions and a lost batch.
/// </summary>
[Collection(IsolatedCollection.Name)]
public sealed class MeshKvEventsTests : IAsyncLifetime
{
    private const string Model = "kv-model";

    // Engines and node share the model's tokenizer (a cut-down Qwen2.5 vocabulary shipped with the tests).
    private static readonly string Tokenizer = Gorgo.Testing.Paths.Tokenizer("qwen2.5-tiny");
    private readonly List<WebApplication> _replicas = [];
    private MeshDeployment _mesh = null!;

    // 96 blocks of 16 tokens per replica: the prompts below overflow it, so engines evict.
    private static readonly EngineProfile Profile = TestProfiles.Fast("kv-events", maxRunningRequests: 2) with { KvCapacityBlocks = 96, MaxContextTokens = 1024 };

    public async Task InitializeAsync()
    {
        var replicas = new List<ReplicaOptions>();
        for (int i = 1; i <= 2; i++)
        {
            WebApplication app = ReplicaServer.Build(
                new ReplicaServerOptions { Port = 0, Model = Model, DefaultMaxTokens = 4, KvEventsEndpoint = "tcp://127.0.0.1:*", KvEventsReplayEndpoint = "tcp://127.0.0.1:*", Tokenizer = Tokenizer },
                MeshFixture.Logging,
                Profile);
            await app.StartAsync();
            _replicas.Add(app);
            KvEventPublisher publisher = Emulated(i - 1).KvEvents!.Publisher;
            replicas.Add(new ReplicaOptions
            {
                Id = $"r{i}",
                Region = "us-east",
                Model = Model,
                Kind = ReplicaKind.Http,
                Url = app.Urls.Single(),
                PrefillMsPerToken = Profile.PrefillMsPerToken,
                MaxRunningRequests = Profile.MaxRunningRequests,
                MaxContextTokens = Profile.MaxContextTokens,
                KvEvents = new KvEventsOptions { Endpoint = publisher.Endpoint, ReplayEndpoint = publisher.ReplayEndpoint },
                Tokenizer = Tokenizer,
            });
        }

        var options = new MeshOptions
        {
            Regions = new() { ["us-east"] = new() { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free() } },
            Rtt = new() { ["us-east"] = new() { ["us-east"] = 1.0 } },
            Replicas = replicas,
            Clustering = new ClusteringOptions { PrimaryRegion = "us-east", ClusterId = "kv-" + Guid.NewGuid().ToString("N")[..8] },
            LoadReportIntervalMs = 50,
            DefaultMaxTokens = 4,
        };
        _mesh = await MeshDeployment.StartAsync(options, MeshFixture.Logging);

        // HTTP replicas join the router with their first load report.
        Router router = _mesh.State("us-east").Router;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (router.Replicas.Count(r => r.Model == Model) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }
    }

    public async Task DisposeAsync()
    {
        await _mesh.DisposeAsync();
        foreach (WebApplication app in _replicas)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_nodes_view_of_each_replica_equals_the_engines_blocks_through_evictions_and_a_lost_batch()
    {
        RegionState state = _mesh.State("us-east");
        using var http = new HttpClient { BaseAddress = new Uri(_mesh.Options.Regions["us-east"].IngressUrl + "/") };

        // Three families of prompts (20 shared blocks, 10 own each), four rounds: shared prefixes, then evictions.
        await SendRoundsAsync(http, rounds: 4);
        await WaitUntilViewsMatchAsync(state);
        Assert.All(state.KvFeeds.Values, f => Assert.True(f.View.Exact, f.View.ApproximateReason));
        Assert.All(state.KvFeeds.Keys, id => Assert.Equal(CacheViewKind.Exact, state.Router.CacheViewOf(id)));

        // A batch lost on the wire: the next one shows a gap, the replay fills it, and the view stays exact.
        Emulated(0).KvEvents!.Publisher.SkipOnWire(1);
        Emulated(1).KvEvents!.Publisher.SkipOnWire(1);
        await SendRoundsAsync(http, rounds: 3, firstRound: 4);
        await WaitUntilViewsMatchAsync(state);
        Assert.All(state.KvFeeds.Values, f => Assert.True(f.View.Exact, f.View.ApproximateReason));
        JsonObject mesh = (await http.GetFromJsonAsync<JsonObject>("mesh/state"))!;
        Assert.Equal("exact", (string?)mesh["cacheViews"]!["r1"]);
        JsonArray feeds = mesh["kvEvents"]!.AsArray();
        Assert.Equal(2, feeds.Count);
        Assert.Contains(feeds, f => (long)f!["replayed"]! >= 1 && (long)f["gaps"]! >= 1);
        IReadOnlyList<Gorgo.Replica.Backends.PrometheusSample> metrics = Gorgo.Replica.Backends.PrometheusText.Parse(await http.GetStringAsync("metrics"));
        Gorgo.Replica.Backends.PrometheusSample view = Assert.Single(metrics, m => m.Name == "gorgo_replica_cache_view" && m.Labels["replica"] == "r1");
        Assert.Equal(("exact", 1.0), (view.Labels["view"], view.Value));
    }

    [Fact]
    public async Task A_text_prompt_tokenized_with_the_models_tokenizer_finds_the_blocks_the_engine_reported()
    {
        RegionState state = _mesh.State("us-east");
        using var http = new HttpClient { BaseAddress = new Uri(_mesh.Options.Regions["us-east"].IngressUrl + "/") };
        string text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"Paragraph {i} of the shared system prompt."));
        Assert.NotEqual(Gorgo.Routing.Tokens.PromptEncoder.CreateDefault().Tokenize(text), Emulated(0).Encoder.Tokenize(text));

        // The first request stores the prompt's blocks in one engine; its KV events (not the node's decision: the views
        // are exact) tell the node.
        using HttpResponseMessage first = await http.PostAsJsonAsync("v1/completions", new { model = Model, prompt = text, max_tokens = 4 });
        Assert.True(first.IsSuccessStatusCode, await first.Content.ReadAsStringAsync());
        int promptTokens = (int)(await first.Content.ReadFromJsonAsync<JsonObject>())!["usage"]!["prompt_tokens"]!;
        string replica = first.Headers.GetValues("x-gorgo-replica").Single();
        Assert.Equal(CacheViewKind.Exact, state.Router.CacheViewOf(replica));
        // Also until every replica here reports idle and nothing is counted on its way to one: the prefix saves only a few
        // milliseconds of prefill with the test profile, which a request still counted on a replica (this one's, or an
        // earlier test's in a lagging report) outweighs.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        bool Idle() => state.Router.Replicas.Where(r => r.Region == "us-east").All(r => r.RunningRequests + r.QueuedRequests == 0 && state.Router.PendingRequests(r.Id) == 0);
        while ((state.Router.CachedBlocks(replica) < promptTokens / 16 || !Idle()) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }

        // The node tokenizes the longer prompt as the engine did, so its blocks are found whole.
        using HttpResponseMessage second = await http.PostAsJsonAsync("v1/completions", new { model = Model, prompt = text + " And a question.", max_tokens = 4 });
        Assert.True(second.IsSuccessStatusCode, await second.Content.ReadAsStringAsync());
        int matched = int.Parse(second.Headers.GetValues("x-gorgo-matched-tokens").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(replica, second.Headers.GetValues("x-gorgo-replica").Single());
        Assert.InRange(matched, (promptTokens / 16 * 16) - 16, promptTokens);
    }

    private EmulatedReplica Emulated(int i) => _replicas[i].Services.GetRequiredService<EmulatedReplica>();

    private static async Task SendRoundsAsync(HttpClient http, int rounds, int firstRound = 0)
    {
        for (int round = firstRound; round < firstRound + rounds; round++)
        {
            for (int family = 0; family < 3; family++)
            {
                int[] prompt = [.. Enumerable.Range(family * 10_000, 320), .. Enumerable.Range((family * 10_000) + 5_000 + (round * 200), 160)];
                using HttpResponseMessage response = await http.PostAsJsonAsync("v1/completions", new { model = Model, prompt, max_tokens = 4 });
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }
        }
    }

    /// <summary>Waits (up to 10 s) until the router's blocks for each replica are the engine's; then asserts it.</summary>
    private async Task WaitUntilViewsMatchAsync(RegionState state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !Enumerable.Range(0, 2).All(i => Matches(state, i)))
        {
            await Task.Delay(25);
        }

        for (int i = 0; i < 2; i++)
        {
            ulong[] engine = Emulated(i).Engine.CachedBlocks();
            Assert.NotEmpty(engine);
            Assert.Equal(engine.Order(), state.Router.Summarize($"r{i + 1}").Hashes.Order());
        }
    }

    private bool Matches(RegionState state, int i) =>
        Emulated(i).Engine.CachedBlocks().Order().SequenceEqual(state.Router.Summarize($"r{i + 1}").Hashes.Order());
}
