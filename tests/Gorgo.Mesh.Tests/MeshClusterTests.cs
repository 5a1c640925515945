using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Backends;
using Gorgo.Mesh.Grains;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;

namespace Gorgo.Mesh.Tests;

public class MeshClusterTests(MeshFixture fixture) : IClassFixture<MeshFixture>
{
    private static readonly string[] Regions = ["us-east", "eu-central", "ap-northeast"];

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private HttpClient Client(string region) => new() { BaseAddress = fixture.Ingress(region), Timeout = TimeSpan.FromSeconds(30) };

    private async Task<HttpResponseMessage> CompleteAsync(string region, string body, string? clientRegion = null)
    {
        using HttpClient http = Client(region);
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(body) };
        if (clientRegion is not null)
        {
            request.Headers.Add("x-gorgo-client-region", clientRegion);
        }

        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Replica_grains_run_on_their_own_regions_silo_whichever_node_calls_them()
    {
        foreach (string caller in Regions)
        {
            IGrainFactory grains = fixture.Mesh.Services(caller).GetRequiredService<IGrainFactory>();
            foreach (var replica in fixture.Options.Replicas)
            {
                string host = await grains.GetGrain<IReplicaGrain>(MeshKeys.Replica(replica.Region, replica.Id)).GetHostRegion();
                Assert.Equal(replica.Region, host);
            }
        }
    }

    [Theory]
    [InlineData("us-east")]
    [InlineData("eu-central")]
    [InlineData("ap-northeast")]
    public async Task Any_node_serves_a_streamed_chat_completion_to_the_official_client(string region)
    {
        ChatClient chat = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(fixture.Ingress(region), "v1") }).GetChatClient(MeshFixture.Model);
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync([new UserChatMessage($"Hello from {region}")], new ChatCompletionOptions { MaxOutputTokenCount = 6 }))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage = update.Usage ?? usage;
        }

        Assert.Equal(" The router sends each prompt to", text.ToString());
        Assert.Equal(6, usage?.OutputTokenCount);
    }

    [Fact]
    public async Task Routing_headers_are_present_and_name_the_replica_that_served()
    {
        using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "headers please", "max_tokens": 2}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string Header(string name) => response.Headers.GetValues(name).Single();

        string replica = Header("x-gorgo-replica");
        string region = Header("x-gorgo-region");
        Assert.Equal(fixture.Options.Replicas.Single(r => r.Id == replica).Region, region);
        Assert.Equal("gorgo", Header("x-gorgo-policy"));
        Assert.Equal("us-east", Header("x-gorgo-ingress-region"));
        Assert.Equal("gossip", Header("x-gorgo-consistency"));
        Assert.Matches(@"^\d+\.\d; waited=\d+\.\d; network=\d+\.\d; queue=\d+\.\d; prefill=\d+\.\d; overhead=\d+\.\d$", Header("x-gorgo-estimated-ttft-ms"));
        Assert.True(int.Parse(Header("x-gorgo-matched-tokens")) >= 0);
        Assert.True(double.Parse(Header("x-gorgo-state-age-ms")) >= 0);
    }

    [Fact]
    public async Task A_forwarded_request_is_served_by_the_replica_its_regions_node_rebinds_it_to_and_the_headers_say_so()
    {
        // us-east may only choose euc-1; eu-central's node, on arrival, may only serve it on euc-2.
        RegionState usEast = fixture.Mesh.Services("us-east").GetRequiredService<RegionState>();
        RegionState euCentral = fixture.Mesh.Services("eu-central").GetRequiredService<RegionState>();
        string[] closedAtUsEast = ["use-1", "use-2", "euc-2", "apn-1", "apn-2"];
        long reboundBefore = euCentral.Node.Stats.Rebound;
        try
        {
            foreach (string id in closedAtUsEast)
            {
                usEast.Router.SetSuspended(id, true);
            }

            euCentral.Router.SetSuspended("euc-1", true);
            using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "rebind me on arrival", "max_tokens": 2}""");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("euc-2", response.Headers.GetValues("x-gorgo-replica").Single());
            Assert.Equal("euc-1", response.Headers.GetValues("x-gorgo-rebound-from").Single());
            Assert.Equal("eu-central", response.Headers.GetValues("x-gorgo-region").Single());
            Assert.Equal(reboundBefore + 1, euCentral.Node.Stats.Rebound);
        }
        finally
        {
            foreach (string id in closedAtUsEast)
            {
                usEast.Router.SetSuspended(id, false);
            }

            euCentral.Router.SetSuspended("euc-1", false);
        }
    }

    [Fact]
    public async Task A_forwarded_request_whose_region_cannot_take_it_is_relayed_once_and_streams_back_through_that_node()
    {
        // us-east may only choose euc-1; eu-central's node can serve neither of its own and sees only apn-1 elsewhere;
        // ap-northeast's node would rebind to apn-1 anyway (apn-2 is closed there too), and does not relay again.
        RegionState usEast = fixture.Mesh.Services("us-east").GetRequiredService<RegionState>();
        RegionState euCentral = fixture.Mesh.Services("eu-central").GetRequiredService<RegionState>();
        RegionState apNortheast = fixture.Mesh.Services("ap-northeast").GetRequiredService<RegionState>();
        (RegionState Node, string[] Closed)[] closed =
        [
            (usEast, ["use-1", "use-2", "euc-2", "apn-1", "apn-2"]),
            (euCentral, ["euc-1", "euc-2", "use-1", "use-2", "apn-2"]),
            (apNortheast, ["apn-2"]),
        ];
        (long relayedAtEu, long arrivedAtAp, long relayedAtAp) = (euCentral.Node.Stats.Relayed, apNortheast.Node.Stats.ForwardedArrivals, apNortheast.Node.Stats.Relayed);
        try
        {
            SetSuspended(closed, true);
            using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "relay me on arrival", "max_tokens": 2}""");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("apn-1", response.Headers.GetValues("x-gorgo-replica").Single());
            Assert.Equal("euc-1", response.Headers.GetValues("x-gorgo-rebound-from").Single());
            Assert.Equal("ap-northeast", response.Headers.GetValues("x-gorgo-region").Single());
            using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(2, body.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal(relayedAtEu + 1, euCentral.Node.Stats.Relayed);
            Assert.Equal((arrivedAtAp + 1, relayedAtAp), (apNortheast.Node.Stats.ForwardedArrivals, apNortheast.Node.Stats.Relayed));
        }
        finally
        {
            SetSuspended(closed, false);
        }

        static void SetSuspended((RegionState Node, string[] Closed)[] closed, bool suspended)
        {
            foreach ((RegionState node, string[] ids) in closed)
            {
                foreach (string id in ids)
                {
                    node.Router.SetSuspended(id, suspended);
                }
            }
        }
    }

    [Fact]
    public async Task A_cross_region_request_takes_at_least_the_emulated_rtt()
    {
        // Only ap-northeast serves this model, so a request at us-east must cross 178.6 ms of emulated RTT.
        var watch = Stopwatch.StartNew();
        using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.RemoteOnlyModel}}", "prompt": "far away", "max_tokens": 1}""");
        double elapsed = watch.Elapsed.TotalMilliseconds;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ap-northeast", response.Headers.GetValues("x-gorgo-region").Single());
        Assert.True(elapsed >= 178.6, $"took {elapsed:F1} ms");
        // The router's RTT is the probes' EWMA of the emulated 178.6 ms (plus call overhead).
        string estimate = response.Headers.GetValues("x-gorgo-estimated-ttft-ms").Single();
        double network = double.Parse(System.Text.RegularExpressions.Regex.Match(estimate, @"network=([\d.]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(network >= 178.6, $"network term {network} ms");
    }

    [Fact]
    public async Task The_client_leg_is_emulated_from_the_client_region_header()
    {
        var watch = Stopwatch.StartNew();
        using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "from frankfurt", "max_tokens": 1}""", clientRegion: "eu-central");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.Elapsed.TotalMilliseconds >= 92.8);
    }

    [Fact]
    public async Task Gossip_shares_every_regions_replicas_and_prefix_summaries()
    {
        // Warm a prefix on a us-east replica, then wait for eu-central to learn its hot blocks by gossip.
        string prompt = string.Concat(Enumerable.Repeat("A shared system prompt that fills several blocks. ", 10));
        using (HttpResponseMessage warm = await CompleteAsync("us-east", JsonSerializer.Serialize(new { model = MeshFixture.Model, prompt, max_tokens = 1 })))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        RegionState eu = fixture.Mesh.State("eu-central");
        Assert.Equal(["ap-northeast", "us-east"], eu.Node.KnownRegions());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        int hot = 0;
        while (DateTime.UtcNow < deadline && hot == 0)
        {
            hot = new[] { "use-1", "use-2" }.Sum(id => eu.Router.Summarize(id).Hashes.Length);
            await Task.Delay(50);
        }

        Assert.True(hot > 0, "eu-central learned no hot blocks of us-east's replicas");
        Assert.True(eu.Stats.GossipBytesReceived > 0);
        Assert.InRange(fixture.Mesh.State("us-east").Stats.LastDigestBytes, 1, fixture.Options.Gossip.DigestBudgetBytes);
    }

    [Fact]
    public async Task The_sync_setting_queries_every_region_before_deciding()
    {
        RegionState eu = fixture.Mesh.State("eu-central");
        long before = eu.Stats.SyncQueries;
        using HttpResponseMessage response = await CompleteAsync("eu-central", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "sync me", "max_tokens": 1}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("sync", response.Headers.GetValues("x-gorgo-consistency").Single());
        Assert.Equal(before + 2, eu.Stats.SyncQueries);
    }

    [Fact]
    public async Task Local_only_shares_no_remote_load_and_stays_home_until_its_replicas_are_full()
    {
        // Its digests carry identities but no load or prefix summaries.
        RegionState us = fixture.Mesh.State("us-east");
        Assert.All(new[] { "apn-1", "apn-2" }, id => Assert.Empty(us.Router.Summarize(id).Hashes));

        // One request at a time stays home.
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage response = await CompleteAsync("ap-northeast", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "stay {{i}}", "max_tokens": 1}""");
            Assert.Equal("ap-northeast", response.Headers.GetValues("x-gorgo-region").Single());
        }

        // Two replicas with two batch slots each: once they report idle, a burst of six long requests fills the four
        // home slots and overflows the other two to other regions.
        RegionState apn = fixture.Mesh.State("ap-northeast");
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (apn.Router.Replicas.Where(r => r.Region == "ap-northeast" && r.Model == MeshFixture.Model).Any(r => r.RunningRequests + r.QueuedRequests > 0 || apn.Router.PendingRequests(r.Id) > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "ap-northeast's replicas never reported idle");
            await Task.Delay(20);
        }

        HttpResponseMessage[] burst = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            CompleteAsync("ap-northeast", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "burst {{i}}", "max_tokens": 100}""")));
        string[] served = burst.Select(r => r.Headers.GetValues("x-gorgo-region").Single()).ToArray();
        Assert.All(burst, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(4, served.Count(r => r == "ap-northeast"));
        Assert.Equal(2, served.Count(r => r != "ap-northeast"));
    }

    [Theory]
    [InlineData("{broken", 400, null)]
    [InlineData("""{"model": "test-model"}""", 400, "prompt")]
    [InlineData("""{"model": "test-model", "prompt": "x", "max_tokens": -1}""", 400, "max_tokens")]
    [InlineData("""{"model": "no-such-model", "prompt": "x"}""", 404, "model")]
    [InlineData("""{"model": "test-model", "prompt": "x", "max_tokens": 9000}""", 413, "messages")]
    public async Task Bad_requests_get_the_documented_statuses_in_openai_shape(string body, int status, string? param)
    {
        using HttpResponseMessage response = await CompleteAsync("us-east", body);
        Assert.Equal(status, (int)response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(param, json.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task An_unknown_client_region_is_a_bad_request()
    {
        using HttpResponseMessage response = await CompleteAsync("us-east", $$"""{"model": "{{MeshFixture.Model}}", "prompt": "x"}""", clientRegion: "mars");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("mars", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Models_health_and_mesh_state_describe_the_whole_mesh()
    {
        using HttpClient http = Client("eu-central");
        using JsonDocument models = JsonDocument.Parse(await http.GetStringAsync("v1/models"));
        Assert.Equal([MeshFixture.RemoteOnlyModel, MeshFixture.Model], models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).Order());

        using JsonDocument state = JsonDocument.Parse(await http.GetStringAsync("mesh/state"));
        Assert.Equal("eu-central", state.RootElement.GetProperty("region").GetString());
        Assert.Equal(2, state.RootElement.GetProperty("remote").GetArrayLength());
        Assert.All(state.RootElement.GetProperty("remote").EnumerateArray(), r => Assert.True(r.GetProperty("ageMs").GetInt64() < 2_000));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);
    }
}
