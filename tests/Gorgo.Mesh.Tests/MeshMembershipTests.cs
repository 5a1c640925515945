using System.Net;
using System.Text;

namespace Gorgo.Mesh.Tests;

/// <summary>Regions leaving and joining (its own cluster: these tests stop and restart nodes).</summary>
public class MeshMembershipTests(MeshFixture fixture) : IClassFixture<MeshFixture>
{
    private async Task<HttpStatusCode> CompleteAsync(string region, string model)
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress(region), Timeout = TimeSpan.FromSeconds(30) };
        using HttpResponseMessage response = await http.PostAsync("v1/completions", new StringContent($$"""{"model": "{{model}}", "prompt": "still there?", "max_tokens": 1}""", Encoding.UTF8, "application/json"));
        return response.StatusCode;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_region_that_leaves_is_forgotten_and_converges_again_when_it_rejoins()
    {
        Assert.Equal(HttpStatusCode.OK, await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel));

        Assert.True(await fixture.Mesh.StopNodeAsync("ap-northeast"));
        await WaitForAsync(
            () => fixture.Mesh.State("us-east").Node.KnownRegions().SequenceEqual(["eu-central"]) && fixture.Mesh.State("eu-central").Node.KnownRegions().SequenceEqual(["us-east"]),
            TimeSpan.FromSeconds(15),
            "the remaining regions forget ap-northeast");

        // The rest of the mesh keeps serving; the model only ap-northeast had is unavailable (a retryable 503: the mesh
        // is configured to serve it), not unknown (404).
        Assert.Equal(HttpStatusCode.OK, await CompleteAsync("us-east", MeshFixture.Model));
        Assert.Equal(HttpStatusCode.OK, await CompleteAsync("eu-central", MeshFixture.Model));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel));
        Assert.Equal(HttpStatusCode.NotFound, await CompleteAsync("us-east", "no-such-model"));

        await fixture.Mesh.StartNodeAsync("ap-northeast", MeshFixture.Logging);
        Assert.True(await fixture.Mesh.WaitUntilConvergedAsync(TimeSpan.FromSeconds(30)), "gossip did not converge after the region rejoined");

        // Its model is served again within seconds (a request forwarded while the restarted node is still starting may fail).
        HttpStatusCode remote = await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel);
        for (var watch = System.Diagnostics.Stopwatch.StartNew(); remote != HttpStatusCode.OK && watch.Elapsed < TimeSpan.FromSeconds(10);)
        {
            await Task.Delay(250);
            remote = await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel);
        }

        Assert.Equal(HttpStatusCode.OK, remote);
        Assert.Equal(HttpStatusCode.OK, await CompleteAsync("ap-northeast", MeshFixture.Model));
    }
}
