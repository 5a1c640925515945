using Gorgo.Bench.Live;
using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.Hosting;
using Gorgo.Routing.Fleet;
using Gorgo.Scenarios.Workload;

namespace Gorgo.Bench.Tests;

/// <summary>The live outcome forecasts: from the true state of in-process engines, with the emulated legs.</summary>
public sealed class LiveForecasterTests : IAsyncDisposable
{
    private static readonly RttMatrix Rtt = RttMatrix.FromPairs([("us-east", "us-east", 2), ("eu-central", "eu-central", 2), ("us-east", "eu-central", 90)]);

    private readonly EngineHost _home = new(EngineProfile.Load("h100-8b"));
    private readonly EngineHost _abroad = new(EngineProfile.Load("h100-8b"));

    public async ValueTask DisposeAsync()
    {
        await _home.DisposeAsync();
        await _abroad.DisposeAsync();
    }

    private static BenchRequest Request(int index) => new(index, 0, "us-east", Enumerable.Range(1000 * index, 512).ToArray(), 8);

    private static byte[] Body(BenchRequest request) => new LiveClient(new HttpClient(), "m").Body(request);

    [Fact]
    public void On_idle_engines_a_mesh_clients_best_is_at_home_and_the_remote_one_costs_the_round_trip_more()
    {
        var mesh = new LiveForecaster(
            [
                new ForecastEngine("use-1", "us-east", _home, _ => true, SameRegionFree: true),
                new ForecastEngine("euc-1", "eu-central", _abroad, _ => true, SameRegionFree: true),
            ],
            Rtt);
        BenchRequest request = Request(1);
        EngineRequest probe = mesh.Probe(request, Body(request))!;
        (double? best, double? home) = mesh.Forecast("us-east", probe);

        double alone = _home.ForecastFirstTokenInMs(probe, 0);
        Assert.True(alone > 0);
        Assert.Equal(home, best);
        Assert.InRange(best!.Value, alone - 5, alone + 5);

        // From eu-central's users, the same engines: home is eu-central now, us-east is 90 ms of round trip away.
        (double? bestEu, double? homeEu) = mesh.Forecast("eu-central", probe);
        Assert.InRange(homeEu!.Value, alone - 5, alone + 5);
        Assert.Equal(homeEu, bestEu);
    }

    [Fact]
    public void Through_a_proxy_every_replica_costs_the_clients_leg_to_the_proxy_and_the_proxys_leg_to_the_replica()
    {
        var proxy = new LiveForecaster(
            [
                new ForecastEngine("use-1", "us-east", _home, _ => true, SameRegionFree: false) { Via = "us-east" },
                new ForecastEngine("euc-1", "eu-central", _abroad, _ => true, SameRegionFree: false) { Via = "us-east" },
            ],
            Rtt);
        BenchRequest request = Request(2);
        EngineRequest probe = proxy.Probe(request, Body(request))!;
        double alone = _home.ForecastFirstTokenInMs(probe, 0);

        // A client in eu-central: 45 ms to the proxy and back, then either 1 + 1 ms (us-east) or 45 + 45 ms (eu-central).
        (double? best, double? home) = proxy.Forecast("eu-central", probe);
        Assert.InRange(best!.Value, alone + 90 + 2 - 5, alone + 90 + 2 + 5);
        Assert.InRange(home!.Value, alone + 180 - 5, alone + 180 + 5);
    }

    [Fact]
    public void Without_engines_in_this_process_there_is_nothing_to_forecast()
    {
        var none = new LiveForecaster([], Rtt);
        Assert.False(none.Enabled);
        BenchRequest request = Request(3);
        Assert.Null(none.Probe(request, Body(request)));
    }
}
