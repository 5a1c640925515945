using System.Net;
using System.Text;
using System.Text.Json;
using Gorgo.Routing.Fleet;

namespace Gorgo.Mesh.Tests;

/// <summary>A node that is told to stop drains first (its own cluster: the test stops a node).</summary>
public class MeshDrainTests(MeshFixture fixture) : IClassFixture<MeshFixture>
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_stopping_node_refuses_new_requests_tells_its_peers_and_lets_its_streams_finish()
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress("eu-central"), Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = Json($$"""{"model": "{{MeshFixture.Model}}", "prompt": "a long answer, please", "max_tokens": 1500, "stream": true}"""),
        };
        request.Headers.Add("x-gorgo-client-region", "eu-central");
        using HttpResponseMessage stream = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());

        Task stopping = fixture.Mesh.StopNodeAsync("eu-central");

        // Its health says so, and a new request is refused with 503 and Retry-After while the stream runs on.
        await WaitForAsync(async () => (await http.GetAsync("health")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(5), "eu-central's /health says draining");
        using (HttpResponseMessage refused = await http.PostAsync("v1/completions", Json($$"""{"model": "{{MeshFixture.Model}}", "prompt": "too late", "max_tokens": 1}""")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            using JsonDocument error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Equal("node_draining", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        }

        // Its peers were told at once: no router offers eu-central's replicas any more.
        await WaitForAsync(
            () =>
            {
                ReplicaView[] theirs = [.. fixture.Mesh.State("us-east").Router.Replicas.Where(r => r.Region == "eu-central")];
                return Task.FromResult(theirs.Length > 0 && theirs.All(r => r.Health == ReplicaHealth.Draining));
            },
            TimeSpan.FromSeconds(2),
            "us-east sees eu-central's replicas draining");

        // The stream finishes whole.
        string rest = await reader.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]", rest.TrimEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"error\"", rest, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":\"length\"", rest, StringComparison.Ordinal);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
