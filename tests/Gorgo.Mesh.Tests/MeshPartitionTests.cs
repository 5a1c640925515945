using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gorgo.Mesh.Options;

namespace Gorgo.Mesh.Tests;

/// <summary>The mesh of <see cref="MeshFixture"/> with fault injection on.</summary>
public sealed class FaultInjectionMeshFixture : MeshFixture
{
    protected override void Customize(MeshOptions options) => options.FaultInjection = true;
}

/// <summary>A partition between two regions: each routes around the other within seconds, serves its own users, and takes the other back when it heals.</summary>
public class MeshPartitionTests(FaultInjectionMeshFixture fixture) : IClassFixture<FaultInjectionMeshFixture>
{
    private async Task<(HttpStatusCode Status, TimeSpan Took)> CompleteAsync(string region, string model)
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress(region), Timeout = TimeSpan.FromSeconds(60) };
        var watch = Stopwatch.StartNew();
        using HttpResponseMessage response = await http.PostAsync("v1/completions", new StringContent($$"""{"model": "{{model}}", "prompt": "across the sea", "max_tokens": 2}""", Encoding.UTF8, "application/json"));
        return (response.StatusCode, watch.Elapsed);
    }

    private async Task InjectAsync(string region, string kind, string target)
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress(region) };
        using HttpResponseMessage response = await http.PostAsJsonAsync("admin/faults", new { kind, target });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<string> StatusOfAsync(string region, string of)
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress(region) };
        using JsonDocument health = JsonDocument.Parse(await http.GetStringAsync("health"));
        return health.RootElement.GetProperty("regions").GetProperty(of).GetString()!;
    }

    private async Task WaitForStatusAsync(string region, string of, string status, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (await StatusOfAsync(region, of) != status)
        {
            Assert.True(watch.Elapsed < timeout, $"{region} did not report {of} {status} within {timeout.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Partitioned_regions_route_around_each_other_within_seconds_and_take_each_other_back_when_healed()
    {
        Assert.Equal(HttpStatusCode.OK, (await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel)).Status);

        await InjectAsync("us-east", "partition", "ap-northeast");
        await InjectAsync("ap-northeast", "partition", "us-east");
        await WaitForStatusAsync("us-east", "ap-northeast", "unreachable", TimeSpan.FromSeconds(15));
        await WaitForStatusAsync("ap-northeast", "us-east", "unreachable", TimeSpan.FromSeconds(15));

        // Each side serves its own users; a model only the other side has is refused at once, not after a 30 s stall.
        Assert.Equal(HttpStatusCode.OK, (await CompleteAsync("us-east", MeshFixture.Model)).Status);
        (HttpStatusCode status, TimeSpan took) = await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.True(took < TimeSpan.FromSeconds(10), $"the refusal took {took.TotalSeconds:F1} s");
        Assert.Equal("up", await StatusOfAsync("us-east", "eu-central"));

        await InjectAsync("us-east", "heal", "ap-northeast");
        await InjectAsync("ap-northeast", "heal", "us-east");
        await WaitForStatusAsync("us-east", "ap-northeast", "up", TimeSpan.FromSeconds(15));
        Assert.Equal(HttpStatusCode.OK, (await CompleteAsync("us-east", MeshFixture.RemoteOnlyModel)).Status);
    }

    [Fact]
    public async Task A_fault_the_node_cannot_apply_is_refused_with_the_reason()
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress("eu-central") };
        using HttpResponseMessage response = await http.PostAsJsonAsync("admin/faults", new { kind = "fail-replica", target = "apn-1" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not a replica of region 'eu-central'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
