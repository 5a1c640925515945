using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gorgo.Cli.Tests;

/// <summary>
/// Three <c>gorgo node</c> processes, each in its own network namespace, clustered over a bridge; one region is cut
/// off the network for real (its bridge port taken down, so the silos' packets are lost, not refused), then put back.
/// </summary>
public sealed class NetworkPartitionTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private static readonly string[] Regions = ["us-east", "eu-central", "ap-northeast"];
    private static readonly string[] Models = ["m-us", "m-eu", "m-ap"];
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-netns").FullName;
    private readonly List<NodeProcess> _nodes = [];
    private NamespaceHosts? _hosts;
    private TimeSpan _slowest; // the longest answer of the phase being measured

    public void Dispose()
    {
        foreach (NodeProcess node in _nodes)
        {
            node.Dispose();
        }

        _hosts?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [NamespaceFact]
    public async Task A_region_cut_off_the_network_serves_its_own_users_nobody_hangs_and_it_rejoins_when_the_link_returns()
    {
        Assert.True(NamespaceHosts.Unavailable is null, $"Cannot make network namespaces: {NamespaceHosts.Unavailable}.");
        _hosts = NamespaceHosts.Create(Regions.Length);
        string config = Path.Combine(_directory, "mesh.json");
        await File.WriteAllTextAsync(config, Config(_hosts).ToJsonString());
        for (int i = 0; i < Regions.Length; i++)
        {
            _nodes.Add(await NodeProcess.StartInNamespaceAsync(_hosts.Namespaces[i], config, Regions[i], Ingress(i), TimeSpan.FromSeconds(60)));
        }

        // Every node serves every region's model (one replica per region, one model each) before the cut.
        await UntilAsync(async () => await EveryoneServesEverythingAsync(), TimeSpan.FromSeconds(60), "the mesh never formed");

        // A long stream from us-east served in ap-northeast is running when ap-northeast is cut off.
        using var usEast = new HttpClient { BaseAddress = Ingress(0), Timeout = TimeSpan.FromSeconds(60) };
        using HttpResponseMessage stream = await usEast.SendAsync(Completion("m-ap", 4_000, stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());

        var cut = Stopwatch.StartNew();
        _slowest = TimeSpan.Zero;
        _hosts.CutOff(2);

        // The stream ends with an error event and [DONE], within the first-token deadline rather than hanging.
        Task<string> rest = reader.ReadToEndAsync();
        Assert.True(await Task.WhenAny(rest, Task.Delay(TimeSpan.FromSeconds(30))) == rest, "the stream from the cut-off region hung");
        Assert.Contains("data: {\"error\"", await rest, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]", (await rest).TrimEnd(), StringComparison.Ordinal);
        output.WriteLine($"the stream from ap-northeast ended with an error event {cut.ElapsedMilliseconds} ms after the cut");

        // us-east stops counting ap-northeast as up, and says so in /health.
        TimeSpan reported = await UntilAsync(async () => await StatusAsync(0, "ap-northeast") != "up", TimeSpan.FromSeconds(15), "us-east kept reporting ap-northeast up", cut);
        output.WriteLine($"us-east reported ap-northeast not up {reported.TotalMilliseconds:F0} ms after the cut");

        // Both sides answer at once: ap-northeast serves its own users, the others route around it; a model served only
        // on the other side is a retryable 503, not a hang and not a 404.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await TimedStatusAsync(2, "m-ap"));
            Assert.Equal(HttpStatusCode.OK, await TimedStatusAsync(0, "m-eu"));
            Assert.Equal(HttpStatusCode.OK, await TimedStatusAsync(1, "m-us"));
        }

        await UntilAsync(async () => await TimedStatusAsync(2, "m-us") == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(15), "ap-northeast never gave up on us-east's model", cut);
        await UntilAsync(async () => await TimedStatusAsync(0, "m-ap") == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(15), "us-east never gave up on ap-northeast's model", cut);

        // The cut lasts 20 s (long enough for the membership to declare the silo dead), and both sides keep serving.
        while (cut.Elapsed < TimeSpan.FromSeconds(20))
        {
            Assert.Equal(HttpStatusCode.OK, await TimedStatusAsync(2, "m-ap"));
            Assert.Equal(HttpStatusCode.OK, await TimedStatusAsync(0, "m-eu"));
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        // The link returns: within seconds every node serves every model again.
        output.WriteLine($"while cut off, the slowest answer took {_slowest.TotalMilliseconds:F0} ms");
        _slowest = TimeSpan.Zero;
        var healed = Stopwatch.StartNew();
        _hosts.Reconnect(2);
        TimeSpan rejoined = await UntilAsync(async () => await EveryoneServesEverythingAsync(), TimeSpan.FromSeconds(75), "the regions did not take each other back", healed);
        output.WriteLine($"every node served every model again {rejoined.TotalMilliseconds:F0} ms after the link returned (cut for {cut.Elapsed.TotalSeconds - rejoined.TotalSeconds:F1} s); the slowest answer meanwhile took {_slowest.TotalMilliseconds:F0} ms");
        Assert.All(_nodes, n => Assert.False(n.Process.HasExited, $"a node exited:\n{n.Output}"));
    }

    private Uri Ingress(int i) => new($"http://{_hosts!.UserAddress(i)}:8080/");

    private static JsonObject Config(NamespaceHosts hosts) => new()
    {
        ["Regions"] = new JsonObject(Regions.Select((r, i) => KeyValuePair.Create<string, JsonNode?>(r, new JsonObject
        {
            ["IngressUrl"] = "http://0.0.0.0:8080", // every address of the host: its users' link and the mesh network
            ["SiloPort"] = 11111,
            ["GatewayPort"] = 30000,
            ["AdvertisedAddress"] = hosts.MeshAddress(i),
        }))),
        ["Rtt"] = JsonNode.Parse("""{"us-east": {"eu-central": 92.8, "ap-northeast": 178.6}, "eu-central": {"ap-northeast": 231.5}}"""),
        ["Replicas"] = new JsonArray([.. Regions.Select((r, i) => (JsonNode)new JsonObject { ["Id"] = $"{r}-1", ["Region"] = r, ["Model"] = Models[i], ["Profile"] = "h100-8b" })]),
        ["Clustering"] = new JsonObject { ["PrimaryRegion"] = "us-east", ["ClusterId"] = "netns-" + Guid.NewGuid().ToString("N")[..8] },
        ["Gossip"] = new JsonObject { ["IntervalMs"] = 100 },
    };

    private static HttpRequestMessage Completion(string model, int tokens, bool stream = false) => new(HttpMethod.Post, "v1/completions")
    {
        Content = new StringContent($$"""{"model": "{{model}}", "prompt": "across the partition", "max_tokens": {{tokens}}, "stream": {{(stream ? "true" : "false")}}}""", Encoding.UTF8, "application/json"),
    };

    /// <summary>The status of a short completion at node <paramref name="node"/>, which must answer within <paramref name="limit"/> (10 s by default: no hanging).</summary>
    private async Task<HttpStatusCode> TimedStatusAsync(int node, string model, TimeSpan? limit = null)
    {
        using var http = new HttpClient { BaseAddress = Ingress(node), Timeout = limit ?? TimeSpan.FromSeconds(10) };
        var watch = Stopwatch.StartNew();
        using HttpResponseMessage response = await http.SendAsync(Completion(model, 2));
        _slowest = TimeSpan.FromTicks(Math.Max(_slowest.Ticks, watch.Elapsed.Ticks));
        return response.StatusCode;
    }

    /// <summary>
    /// Whether every node serves every model now. While the region that was cut off rejoins (it learns it was evicted,
    /// stops within 10 s and starts again) one request once took more than 10 s, so each gets 40 s here: more than
    /// Orleans' 30 s response timeout and the node's stop.
    /// </summary>
    private async Task<bool> EveryoneServesEverythingAsync()
    {
        for (int node = 0; node < Regions.Length; node++)
        {
            foreach (string model in Models)
            {
                if (await TimedStatusAsync(node, model, TimeSpan.FromSeconds(40)) != HttpStatusCode.OK)
                {
                    return false;
                }
            }
        }

        return true;
    }

    private async Task<string?> StatusAsync(int node, string of)
    {
        using var http = new HttpClient { BaseAddress = Ingress(node), Timeout = TimeSpan.FromSeconds(5) };
        using JsonDocument health = JsonDocument.Parse(await http.GetStringAsync("health"));
        return health.RootElement.GetProperty("regions").TryGetProperty(of, out JsonElement status) ? status.GetString() : null;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; returns the time since <paramref name="since"/> (or the call) when it did.</summary>
    private async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string failure, Stopwatch? since = null)
    {
        since ??= Stopwatch.StartNew();
        TimeSpan start = since.Elapsed;
        while (!await condition())
        {
            Assert.True(since.Elapsed - start < timeout, $"{failure} (after {timeout.TotalSeconds} s)\n{string.Join("\n---\n", _nodes.Select(n => n.Output[^Math.Min(n.Output.Length, 3_000)..]))}");
            await Task.Delay(200);
        }

        return since.Elapsed;
    }
}
