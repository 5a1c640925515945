using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Gorgo.Mesh.Options;

namespace Gorgo.Mesh.Tests;

/// <summary>The mesh of <see cref="MeshFixture"/> with room for one waiting request per replica.</summary>
public sealed class BackpressureMeshFixture : MeshFixture
{
    protected override void Customize(MeshOptions options)
    {
        foreach (ReplicaOptions replica in options.Replicas)
        {
            replica.MaxQueuedRequests = 1;
        }
    }
}

/// <summary>A burst beyond what the fleet can hold spills to other regions and the rest is refused with 429 and Retry-After.</summary>
public class MeshBackpressureTests(BackpressureMeshFixture fixture) : IClassFixture<BackpressureMeshFixture>
{
    [Fact]
    public async Task A_burst_of_three_times_the_fleets_room_at_one_node_spills_abroad_and_the_excess_gets_429_with_retry_after()
    {
        // Six replicas of the model, each with 2 batch slots and 1 queue place: room for 18 requests. Send 54 at once
        // to us-east, as us-east's users.
        using var http = new HttpClient { BaseAddress = fixture.Ingress("us-east"), Timeout = TimeSpan.FromSeconds(60) };
        string metricsBefore = await http.GetStringAsync("metrics");
        var served = new ConcurrentBag<string>();
        var refused = new ConcurrentBag<HttpResponseMessage>();
        var other = new ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 54), new ParallelOptions { MaxDegreeOfParallelism = 54 }, async (i, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent($$"""{"model": "{{MeshFixture.Model}}", "prompt": "burst {{i}}", "max_tokens": 1500}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-gorgo-client-region", "us-east");
            HttpResponseMessage response = await http.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                served.Add(response.Headers.GetValues("x-gorgo-region").Single());
                response.Dispose();
            }
            else if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused.Add(response);
            }
            else
            {
                other.Add(response.StatusCode);
                response.Dispose();
            }
        });

        Assert.Empty(other);
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.NotNull(r.Headers.RetryAfter));
        Assert.Contains(served, region => region != "us-east");
        // Most of the fleet's room is used. Not always all of it: with the whole suite running on two cores, 16 of 18
        // were served in some runs (a remote replica's room is known from gossip and this node's own sends, and which
        // of them leaves a slot unused then is not pinned down yet); what must not happen is refusing while most of
        // the room is free.
        Assert.True(served.Count >= 12, $"only {served.Count} served; the fleet has room for 18");

        // The refusals are counted as such, by reason, at the node that refused them.
        string metricsAfter = await http.GetStringAsync("metrics");
        double Moved(string sample, string label) =>
            NodeOperationsTests.Sum(metricsAfter, sample, "region=\"us-east\"", label) - NodeOperationsTests.Sum(metricsBefore, sample, "region=\"us-east\"", label);
        Assert.True(Moved("gorgo_admission_rejections_total", "reason=\"replicas_saturated\"") >= refused.Count);
        Assert.True(Moved("gorgo_requests_total", "outcome=\"rejected\"") >= refused.Count);
        foreach (HttpResponseMessage r in refused)
        {
            r.Dispose();
        }
    }
}
