using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gorgo.Mesh.Tests;

/// <summary>What an operator reads from a running mesh: <c>/metrics</c>, <c>/status</c> and the status page.</summary>
public class NodeOperationsTests(MeshFixture fixture) : IClassFixture<MeshFixture>
{
    /// <summary>The Gorgo families every node exports, with the label that must carry the node's region.</summary>
    public static readonly string[] Families =
    [
        "gorgo_requests_total", "gorgo_ttft_seconds", "gorgo_e2e_seconds", "gorgo_ttft_estimate_error_seconds",
        "gorgo_route_decisions_total", "gorgo_state_age_seconds", "gorgo_region_state_age_seconds",
        "gorgo_gossip_bytes_total", "gorgo_gossip_exchanges_total", "gorgo_gossip_digests_total", "gorgo_peer_rtt_seconds",
        "gorgo_admission_rejections_total", "gorgo_replica_running", "gorgo_replica_queued", "gorgo_replica_kv_usage",
        "gorgo_replica_cache_view", "gorgo_forwarded_arrivals_total",
    ];

    /// <summary>The families a gateway (<c>gorgo gateway</c>) exports besides; the Proxy tests scrape them from a gateway.</summary>
    public static readonly string[] GatewayFamilies = ["gorgo_gateway_requests_total", "gorgo_gateway_failovers_total"];

    private HttpClient Client(string region) => new() { BaseAddress = fixture.Ingress(region), Timeout = TimeSpan.FromSeconds(30) };

    internal static async Task SendAsync(HttpClient http, int count, string clientRegion)
    {
        for (int i = 0; i < count; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent($$"""{"model": "{{MeshFixture.Model}}", "prompt": "operations test {{i}}", "max_tokens": 4}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-gorgo-client-region", clientRegion);
            using HttpResponseMessage response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>Sum of a family's samples with <paramref name="labels"/> (all of them), from Prometheus text.</summary>
    internal static double Sum(string metrics, string sample, params string[] labels) =>
        metrics.Split('\n')
            .Where(line => line.StartsWith(sample + "{", StringComparison.Ordinal) && labels.All(l => line.Contains(l, StringComparison.Ordinal)))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    [Fact]
    public async Task Metrics_show_every_gorgo_family_and_the_request_counts_move()
    {
        using HttpClient http = Client("us-east");
        string before = await http.GetStringAsync("metrics");
        await SendAsync(http, 5, "us-east");

        // The exporter may serve a cached scrape for a few hundred milliseconds: read until gossip has moved on.
        const string node = "region=\"us-east\"";
        string after = await http.GetStringAsync("metrics");
        bool Settled(string scrape) =>
            Sum(scrape, "gorgo_gossip_bytes_total", node, "direction=\"sent\"") > Sum(before, "gorgo_gossip_bytes_total", node, "direction=\"sent\"")
            && Sum(scrape, "gorgo_requests_total", node, "outcome=\"ok\"") - Sum(before, "gorgo_requests_total", node, "outcome=\"ok\"") >= 5
            && Families.All(family => scrape.Contains($"# TYPE {family} ", StringComparison.Ordinal))
            && scrape.Contains("http_server_request_duration_seconds", StringComparison.Ordinal); // recorded by the host after the response, so it can trail the request counts
        for (var watch = Stopwatch.StartNew(); !Settled(after) && watch.Elapsed < TimeSpan.FromSeconds(15);) // a loaded CI machine can hold rounds back for seconds
        {
            await Task.Delay(100);
            after = await http.GetStringAsync("metrics");
        }

        foreach (string family in Families)
        {
            Assert.Contains($"# TYPE {family} ", after, StringComparison.Ordinal);
        }

        Assert.True(Sum(after, "gorgo_requests_total", node, "outcome=\"ok\"") - Sum(before, "gorgo_requests_total", node, "outcome=\"ok\"") >= 5);
        Assert.True(Sum(after, "gorgo_route_decisions_total", node, "policy=\"gorgo\"") - Sum(before, "gorgo_route_decisions_total", node, "policy=\"gorgo\"") >= 5);
        foreach (string histogram in (string[])["gorgo_ttft_seconds", "gorgo_e2e_seconds", "gorgo_ttft_estimate_error_seconds", "gorgo_state_age_seconds"])
        {
            Assert.True(Sum(after, histogram + "_count", node) - Sum(before, histogram + "_count", node) >= 5, histogram);
        }

        // Gossip moved, every peer has an RTT estimate and a state age, every replica a load gauge.
        Assert.True(Sum(after, "gorgo_gossip_bytes_total", node, "direction=\"sent\"") > Sum(before, "gorgo_gossip_bytes_total", node, "direction=\"sent\""));
        Assert.True(Sum(after, "gorgo_gossip_digests_total", node) > 0, "digests made"); // deltas to the gossip peer, whole to local-only's, which takes no part
        foreach (string peer in (string[])["eu-central", "ap-northeast"])
        {
            Assert.True(Sum(after, "gorgo_peer_rtt_seconds", node, $"peer=\"{peer}\"") > 0, peer);
            Assert.Matches(new Regex($"gorgo_region_state_age_seconds\\{{[^}}]*peer=\"{peer}\"[^}}]*region=\"us-east\""), after);
        }

        foreach (var replica in fixture.Options.Replicas)
        {
            Assert.Contains($"replica=\"{replica.Id}\"", after, StringComparison.Ordinal);
        }

        // The frameworks' meters come along: runtime, ASP.NET Core, Orleans.
        Assert.Contains("dotnet_gc_collections_total", after, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds", after, StringComparison.Ordinal);
        Assert.Contains("orleans_", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_lists_the_regions_the_replicas_and_the_last_decision_with_its_ttft()
    {
        using HttpClient http = Client("eu-central");
        await SendAsync(http, 1, "eu-central");
        using JsonDocument status = JsonDocument.Parse(await http.GetStringAsync("status"));
        JsonElement root = status.RootElement;
        Assert.Equal("mesh", root.GetProperty("role").GetString());
        Assert.Equal("eu-central", root.GetProperty("region").GetString());
        Assert.Equal<string>(["ap-northeast", "us-east"], root.GetProperty("regions").EnumerateArray().Select(r => r.GetProperty("region").GetString()!).Order().ToArray());
        Assert.All(root.GetProperty("regions").EnumerateArray(), r => Assert.Equal("up", r.GetProperty("status").GetString()));
        Assert.Equal(fixture.Options.Replicas.Select(r => r.Id).Order(), root.GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("id").GetString()!).Order());
        JsonElement last = root.GetProperty("decisions")[0];
        Assert.Equal("ok", last.GetProperty("outcome").GetString());
        Assert.True(last.GetProperty("ttftMs").GetDouble() > 0);
        Assert.True(last.GetProperty("estimatedTtftMs").GetDouble() > 0);
        Assert.True(root.GetProperty("gossip").GetProperty("bytesSent").GetInt64() > 0);
    }

    [Fact]
    public void The_grafana_sample_queries_every_family_a_node_or_gateway_exports_and_no_other()
    {
        using JsonDocument dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Paths.RepoRoot, "samples", "grafana", "gorgo-dashboard.json")));
        string[] queried = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .SelectMany(t => Regex.Matches(t.GetProperty("expr").GetString()!, "gorgo_[a-z0-9_]+").Select(m => Regex.Replace(m.Value, "_(bucket|sum|count)$", "")))
            .Distinct()
            .ToArray();
        Assert.NotEmpty(queried);
        Assert.All(queried, family => Assert.Contains(family, Families.Concat(GatewayFamilies)));
        Assert.Equal(Families.Concat(GatewayFamilies).Order(), queried.Order());
    }

    [Fact]
    public async Task Status_page_is_self_contained_html()
    {
        using HttpClient http = Client("ap-northeast");
        using HttpResponseMessage page = await http.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<table id=\"replicas\">", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex("(src|href)=\"(https?:)?//", RegexOptions.IgnoreCase), html);
    }
}
