using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>A <c>gorgo node</c> process told to stop with SIGTERM drains: its stream finishes, new requests get 503, it exits 0.</summary>
public sealed class SigtermDrainTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-sigterm").FullName;
    private NodeProcess? _node;

    public void Dispose()
    {
        _node?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Sigterm_lets_a_running_stream_finish_refuses_new_requests_and_exits_zero()
    {
        int port = LoopbackPorts.Free();
        JsonNode config = JsonNode.Parse(File.ReadAllText(CliRunner.Sample("three-regions", "mesh.json")))!;
        config["Regions"]!["us-east"]!["IngressUrl"] = $"http://127.0.0.1:{port}";
        config["Regions"]!["us-east"]!["SiloPort"] = LoopbackPorts.Free();
        config["Regions"]!["us-east"]!["GatewayPort"] = LoopbackPorts.Free();
        string path = Path.Combine(_directory, "mesh.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());

        _node = await NodeProcess.StartAsync(path, "us-east", new Uri($"http://127.0.0.1:{port}/"), TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = _node.Ingress, Timeout = TimeSpan.FromSeconds(60) };

        // A stream of 1,000 tokens (a few seconds on the h100-8b profile), and SIGTERM once it is under way.
        string model = config["Replicas"]![0]!["Model"]!.GetValue<string>();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent($$"""{"model": "{{model}}", "prompt": "a long answer", "max_tokens": 1000, "stream": true}""", Encoding.UTF8, "application/json"),
        };
        using HttpResponseMessage stream = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());
        await _node.TerminateAsync();

        DateTime deadline = DateTime.UtcNow.AddSeconds(5);
        HttpStatusCode late;
        do
        {
            using HttpResponseMessage refused = await http.PostAsync("v1/completions", new StringContent($$"""{"model": "{{model}}", "prompt": "too late", "max_tokens": 1}""", Encoding.UTF8, "application/json"));
            late = refused.StatusCode;
        }
        while (late == HttpStatusCode.OK && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, late);

        string rest = await reader.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]", rest.TrimEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"error\"", rest, StringComparison.Ordinal);
        Assert.True(_node.Process.WaitForExit(TimeSpan.FromSeconds(30)), $"the node did not exit:\n{_node.Output}");
        Assert.Equal(0, _node.Process.ExitCode);
    }
}
