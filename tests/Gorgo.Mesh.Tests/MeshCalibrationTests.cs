using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Gorgo.Mesh.Options;
using Gorgo.Routing.Cost;

namespace Gorgo.Mesh.Tests;

/// <summary>The mesh of <see cref="MeshFixture"/> with online calibration of the cost model on, used after three observations.</summary>
public sealed class CalibratedMeshFixture : MeshFixture
{
    protected override void Customize(MeshOptions options) =>
        options.Cost = options.Cost with { Calibration = new CalibrationOptions { Enabled = true, MinObservations = 3 } };
}

/// <summary>Each node calibrates the replicas it hosts from the TTFTs they serve, its own users' and other nodes' requests alike, shows it, and estimates with it.</summary>
[Collection(IsolatedCollection.Name)]
public class MeshCalibrationTests(CalibratedMeshFixture fixture) : IClassFixture<CalibratedMeshFixture>
{
    private static async Task SendAsync(HttpClient http, string clientRegion, int i)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent($$"""{"model": "{{MeshFixture.Model}}", "prompt": "calibrate {{clientRegion}} {{i}} {{new string('x', 40 * i)}}", "max_tokens": 2}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-gorgo-client-region", clientRegion);
        using HttpResponseMessage response = await http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Served_requests_calibrate_the_replicas_they_went_to_at_the_node_that_hosts_them_and_later_decisions_use_it()
    {
        using var http = new HttpClient { BaseAddress = fixture.Ingress("us-east"), Timeout = TimeSpan.FromSeconds(30) };
        using var euCentral = new HttpClient { BaseAddress = fixture.Ingress("eu-central"), Timeout = TimeSpan.FromSeconds(30) };
        for (int i = 0; i < 8; i++)
        {
            await SendAsync(http, "us-east", i);
        }

        // Users in eu-central reaching the us-east node: their requests go to eu-central's replicas, whose node learns from them.
        for (int i = 0; i < 6; i++)
        {
            await SendAsync(http, "eu-central", i);
        }

        JsonObject state = (await http.GetFromJsonAsync<JsonObject>("mesh/state"))!;
        JsonObject calibration = state["calibration"]!.AsObject();
        Assert.True((bool)calibration["enabled"]!);
        JsonObject replicas = calibration["replicas"]!.AsObject();
        Assert.Equal(["use-1", "use-2"], replicas.Select(r => r.Key).Order());
        JsonArray decisions = (await http.GetFromJsonAsync<JsonObject>("status"))!["decisions"]!.AsArray();
        int servedHere = decisions.Count(d => (string?)d!["replicaRegion"] == "us-east");
        Assert.Equal(servedHere, replicas.Sum(r => (long)r.Value!["observations"]!));
        string[] inUse = [.. replicas.Where(r => (bool)r.Value!["inUse"]!).Select(r => r.Key)];
        Assert.NotEmpty(inUse);
        Assert.All(inUse, id => Assert.True((long)replicas[id]!["observations"]! >= 3, id));
        Assert.All(inUse, id => Assert.InRange((double)replicas[id]!["prefillGain"]!, 0.25, 8));

        // A decision for a replica calibrated by then records the fit it used; decisions before that, and decisions for
        // another region's replicas (estimated with the rate their node publishes), record none.
        Assert.Contains(decisions, d => inUse.Contains((string?)d!["replica"]) && d["calibrationPrefillGain"] is not null && d["calibrationOverheadMs"] is not null);
        Assert.Contains(decisions, d => d!["calibrationPrefillGain"] is null);
        Assert.All(decisions.Where(d => (string?)d!["replicaRegion"] != "us-east"), d => Assert.Null(d!["calibrationPrefillGain"]));

        // eu-central's node learned its replicas from the requests us-east sent it.
        int sentToEu = decisions.Count(d => (string?)d!["replicaRegion"] == "eu-central");
        Assert.True(sentToEu > 0, "no request went to eu-central");
        JsonObject euState = (await euCentral.GetFromJsonAsync<JsonObject>("mesh/state"))!;
        JsonObject euReplicas = euState["calibration"]!["replicas"]!.AsObject();
        Assert.Equal(["euc-1", "euc-2"], euReplicas.Select(r => r.Key).Order());
        Assert.Equal(sentToEu, euReplicas.Sum(r => (long)r.Value!["observations"]!));

        // Requests it forwarded, and only those, taught it its transit allowance for their regions.
        JsonObject transit = state["transitAllowance"]!.AsObject();
        Assert.True((bool)transit["enabled"]!);
        JsonObject regions = transit["regions"]!.AsObject();
        string[] forwardedTo = [.. decisions.Where(d => (string?)d!["replicaRegion"] != "us-east").Select(d => (string)d!["replicaRegion"]!).Distinct().Order()];
        Assert.Equal(forwardedTo, regions.Select(r => r.Key).Order());
        Assert.Equal(decisions.Count(d => (string?)d!["replicaRegion"] != "us-east"), regions.Sum(r => (long)r.Value!["observations"]!));
        Assert.All(regions, r => Assert.True((double)r.Value!["allowanceMs"]! >= 0));
    }
}
