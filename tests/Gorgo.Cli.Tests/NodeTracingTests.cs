using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>Two <c>gorgo node</c> processes exporting spans over OTLP to a stand-in collector, logging in JSON.</summary>
public sealed class NodeTracingTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-trace").FullName;
    private readonly List<NodeProcess> _nodes = [];
    private readonly OtlpCollector _collector = new();

    public void Dispose()
    {
        foreach (NodeProcess node in _nodes)
        {
            node.Dispose();
        }

        _collector.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Spans of <paramref name="trace"/> whose parent is not in it (1 when the trace is one connected tree).</summary>
    private static int Roots(IReadOnlyList<ReceivedSpan> trace)
    {
        var ids = trace.Select(s => s.SpanId).ToHashSet();
        return trace.Count(s => s.ParentSpanId.Length == 0 || !ids.Contains(s.ParentSpanId));
    }

    [Fact]
    public async Task A_cross_region_request_is_one_trace_with_spans_from_both_silos_and_one_json_log_event()
    {
        // One model per region: a request at us-east for "m-eu" is served by eu-central's replica through a grain call.
        var regions = new[] { "us-east", "eu-central" };
        JsonObject config = NodeProcess.MeshConfig(
            regions,
            """{"us-east": {"eu-central": 92.8}}""",
            """
            [{"Id": "use-1", "Region": "us-east", "Model": "m-us", "Profile": "h100-8b"},
             {"Id": "euc-1", "Region": "eu-central", "Model": "m-eu", "Profile": "h100-8b"}]
            """,
            "trace");
        string path = Path.Combine(_directory, "mesh.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        var otlp = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        };
        foreach (string region in regions)
        {
            _nodes.Add(await NodeProcess.StartAsync(path, region, NodeProcess.IngressOf(config, region), TimeSpan.FromSeconds(60), otlp, "--log-format", "json"));
        }

        using var http = new HttpClient { BaseAddress = _nodes[0].Ingress, Timeout = TimeSpan.FromSeconds(30) };
        DateTime converged = DateTime.UtcNow.AddSeconds(30);
        while (!(await http.GetStringAsync("v1/models")).Contains("m-eu", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < converged, "us-east never learnt eu-central's model");
            await Task.Delay(100);
        }

        using HttpResponseMessage response = await http.PostAsync("v1/completions", new StringContent("""{"model": "m-eu", "prompt": "trace me", "max_tokens": 4}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("eu-central", response.Headers.GetValues("x-gorgo-region").Single());

        // The trace whose routing span us-east made also holds spans eu-central's silo made.
        IReadOnlyList<ReceivedSpan> trace = [];
        DateTime deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            IReadOnlyList<ReceivedSpan> spans = _collector.Spans;
            string? traceId = spans.FirstOrDefault(s => s.Name == "gorgo.route" && s.ServiceInstance == "node-us-east")?.TraceId;
            trace = traceId is null ? [] : spans.Where(s => s.TraceId == traceId).ToArray();
            if (trace.Any(s => s.ServiceInstance == "node-eu-central") && trace.Any(s => s.Name == "gorgo.generate") && Roots(trace) == 1)
            {
                break;
            }

            await Task.Delay(200);
        }

        string seen = string.Join("\n", trace.Select(s => $"{s.ServiceInstance} {s.Name} {s.SpanId} <- {s.ParentSpanId}"));
        output.WriteLine(seen);
        Assert.Contains(trace, s => s.ServiceInstance == "node-us-east" && s.Name == "gorgo.generate");
        Assert.Contains(trace, s => s.ServiceInstance == "node-eu-central");
        Assert.True(trace.Select(s => s.ServiceInstance).Distinct().Count() == 2, seen);

        // Every span but the root has its parent in the same trace: one connected tree across the two processes.
        Assert.Equal(1, Roots(trace));

        // The ingress wrote one JSON log event for the request, with its properties.
        JsonElement[] events = _nodes[0].Output.Split('\n')
            .Where(line => line.StartsWith('{'))
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .Where(e => e.TryGetProperty("EventId", out JsonElement id) && id.TryGetProperty("Id", out JsonElement n) && n.GetInt32() == 100)
            .ToArray();
        JsonElement logged = Assert.Single(events);
        Assert.Equal("ok", logged.GetProperty("Outcome").GetString());
        Assert.Equal("euc-1", logged.GetProperty("Replica").GetString());
        Assert.Equal("eu-central", logged.GetProperty("ReplicaRegion").GetString());
    }
}
