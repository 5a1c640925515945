using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>Three <c>gorgo node</c> processes; one is killed with SIGKILL mid-stream.</summary>
public sealed class NodeFailureTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-kill").FullName;
    private readonly List<NodeProcess> _nodes = [];

    public void Dispose()
    {
        foreach (NodeProcess node in _nodes)
        {
            node.Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private static HttpRequestMessage Stream(string model, int tokens) => new(HttpMethod.Post, "v1/completions")
    {
        Content = new StringContent($$"""{"model": "{{model}}", "prompt": "a long answer", "max_tokens": {{tokens}}, "stream": true}""", Encoding.UTF8, "application/json"),
    };

    private static async Task<TimeSpan> WhenReportedDownAsync(HttpClient http, string region, Stopwatch since, TimeSpan timeout)
    {
        while (since.Elapsed < timeout)
        {
            using JsonDocument health = JsonDocument.Parse(await http.GetStringAsync("health"));
            if (health.RootElement.GetProperty("regions").GetProperty(region).GetString() == "down")
            {
                return since.Elapsed;
            }

            await Task.Delay(50);
        }

        return TimeSpan.MaxValue;
    }

    [Fact]
    public async Task A_killed_node_ends_its_streams_with_an_error_event_breaks_no_other_stream_and_is_reported_down()
    {
        // One model per region, so that a request at us-east for "m-eu" must be served in eu-central and for "m-ap" in
        // ap-northeast. us-east is the cluster's primary; eu-central is the one killed.
        var regions = new[] { "us-east", "eu-central", "ap-northeast" };
        JsonObject config = NodeProcess.MeshConfig(
            regions,
            """{"us-east": {"eu-central": 92.8, "ap-northeast": 178.6}, "eu-central": {"ap-northeast": 231.5}}""",
            """
            [{"Id": "use-1", "Region": "us-east", "Model": "m-us", "Profile": "h100-8b"},
             {"Id": "euc-1", "Region": "eu-central", "Model": "m-eu", "Profile": "h100-8b"},
             {"Id": "apn-1", "Region": "ap-northeast", "Model": "m-ap", "Profile": "h100-8b"}]
            """,
            "kill");
        string path = Path.Combine(_directory, "mesh.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        foreach (string region in regions)
        {
            _nodes.Add(await NodeProcess.StartAsync(path, region, NodeProcess.IngressOf(config, region), TimeSpan.FromSeconds(60)));
        }

        using var http = new HttpClient { BaseAddress = _nodes[0].Ingress, Timeout = TimeSpan.FromSeconds(60) };
        DateTime converged = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetStringAsync("v1/models")).Split("\"id\"").Length - 1 < 3)
        {
            Assert.True(DateTime.UtcNow < converged, "us-east never learned every region's model");
            await Task.Delay(200);
        }

        // Two long streams at us-east: one served in eu-central, one in ap-northeast.
        using HttpResponseMessage toEu = await http.SendAsync(Stream("m-eu", 2_000), HttpCompletionOption.ResponseHeadersRead);
        using HttpResponseMessage toAp = await http.SendAsync(Stream("m-ap", 2_000), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, toEu.StatusCode);
        Assert.Equal(HttpStatusCode.OK, toAp.StatusCode);
        using var euReader = new StreamReader(await toEu.Content.ReadAsStreamAsync());
        using var apReader = new StreamReader(await toAp.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await euReader.ReadLineAsync());
        Assert.StartsWith("data: ", await apReader.ReadLineAsync());

        var killed = Stopwatch.StartNew();
        _nodes[1].Process.Kill(entireProcessTree: true);
        Task<TimeSpan> reportedDown = WhenReportedDownAsync(http, "eu-central", killed, TimeSpan.FromSeconds(15));

        // The stream from the dead region ends with an error event and [DONE]; the other runs to its end.
        string euRest = await euReader.ReadToEndAsync();
        Assert.Contains("data: {\"error\"", euRest, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]", euRest.TrimEnd(), StringComparison.Ordinal);
        string apRest = await apReader.ReadToEndAsync();
        Assert.DoesNotContain("\"error\"", apRest, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":\"length\"", apRest, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]", apRest.TrimEnd(), StringComparison.Ordinal);

        // us-east reports eu-central down within seconds (the cluster's failure detection), and answers for its model
        // at once instead of hanging.
        TimeSpan down = await reportedDown;
        output.WriteLine($"eu-central reported down {down.TotalMilliseconds:F0} ms after the kill");
        Assert.True(down < TimeSpan.FromSeconds(10), $"eu-central was reported down only {down.TotalSeconds:F1} s after the kill");

        var answered = Stopwatch.StartNew();
        using (HttpResponseMessage gone = await http.PostAsync("v1/completions", new StringContent("""{"model": "m-eu", "prompt": "anyone?", "max_tokens": 1}""", Encoding.UTF8, "application/json")))
        {
            Assert.True((int)gone.StatusCode is 404 or 503, $"got {(int)gone.StatusCode}");
        }

        Assert.True(answered.Elapsed < TimeSpan.FromSeconds(5));
        using HttpResponseMessage alive = await http.PostAsync("v1/completions", new StringContent("""{"model": "m-ap", "prompt": "still there?", "max_tokens": 1}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }
}
