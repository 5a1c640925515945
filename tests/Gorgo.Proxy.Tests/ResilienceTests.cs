using System.Net;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy.Tests;

/// <summary>
/// A replica that looks healthy (its /health and /metrics answer) but fails every generation with the status the test
/// sets, in the proxy's own region, and a working emulated replica one region away: the router prefers the first.
/// </summary>
public sealed class FailingReplicaFixture : IAsyncLifetime
{
    public const string Model = "resilience-model";

    private WebApplication? _bad;
    private WebApplication? _good;
    private WebApplication? _proxy;
    private int _badCalls;

    /// <summary>The status the failing replica answers generations with.</summary>
    public int BadStatus { get; set; } = 500;

    /// <summary>Generations the failing replica has been asked for.</summary>
    public int BadCalls => Volatile.Read(ref _badCalls);

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public ProxyState State => _proxy!.Services.GetRequiredService<ProxyState>();

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{LoopbackPorts.Free()}");
        _bad = builder.Build();
        _bad.MapGet("/health", () => Results.Ok());
        _bad.MapGet("/metrics", () => Results.Text($"vllm:num_requests_running{{model_name=\"{Model}\"}} 0\nvllm:num_requests_waiting{{model_name=\"{Model}\"}} 0\nvllm:kv_cache_usage_perc{{model_name=\"{Model}\"}} 0\n"));
        _bad.MapPost("/v1/completions", () =>
        {
            Interlocked.Increment(ref _badCalls);
            return Results.Json(new { error = new { message = "failing on purpose", type = "server_error", param = (string?)null, code = (string?)null } }, statusCode: BadStatus);
        });
        await _bad.StartAsync();

        _good = ReplicaServer.Build(new ReplicaServerOptions { Port = LoopbackPorts.Free(), Model = Model }, l => l.ClearProviders(), profile: TestProfiles.Fast("good", maxRunningRequests: 16));
        await _good.StartAsync();

        var options = new ProxyOptions
        {
            Region = "us-east",
            ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
            Rtt = new() { ["us-east"] = new() { ["us-east"] = 1.0, ["eu-central"] = 90.0 }, ["eu-central"] = new() { ["eu-central"] = 1.0 } },
            Replicas =
            [
                new ProxyReplicaOptions { Id = "bad", Region = "us-east", Model = Model, Url = _bad.Urls.Single(), MaxContextTokens = 8192 },
                new ProxyReplicaOptions { Id = "good", Region = "eu-central", Model = Model, Url = _good.Urls.Single(), MaxContextTokens = 8192 },
            ],
            Dispatch = new Gorgo.Proxy.Core.ProxyDispatchOptions { MaxRunningPerReplica = 16 },
            Resilience = new Gorgo.Serving.ResilienceOptions { RetryBaseDelayMs = 1, BreakerMinimumThroughput = 4, BreakerBreakMs = 60_000 },
            DefaultMaxTokens = 4,
        };
        _proxy = ProxyHost.Build(options, l => l.ClearProviders());
        await _proxy.StartAsync();
        Http.BaseAddress = new Uri(options.ListenUrl + "/");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Apps.StopAllAsync(_proxy, _good, _bad);
    }
}

public class ResilienceTests(FailingReplicaFixture fixture) : IClassFixture<FailingReplicaFixture>
{
    private async Task<HttpResponseMessage> CompleteAsync(int i) =>
        await fixture.Http.PostAsync("v1/completions", new StringContent($$"""{"model": "{{FailingReplicaFixture.Model}}", "prompt": "retry me {{i}}", "max_tokens": 2}""", Encoding.UTF8, "application/json"));

    [Fact]
    public async Task Failures_before_the_first_token_are_retried_elsewhere_and_open_the_replicas_breaker_but_a_4xx_is_neither()
    {
        // A 4xx is the client's: answered as it is, not retried, not held against the replica.
        fixture.BadStatus = 400;
        using (HttpResponseMessage rejected = await CompleteAsync(0))
        {
            Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        }

        Assert.Equal(1, fixture.BadCalls);
        Assert.False(fixture.State.Router.IsSuspended("bad"));

        // A 500 is retried on the next best replica: every client gets its answer, from the good one.
        fixture.BadStatus = 500;
        for (int i = 1; i <= 4; i++)
        {
            using HttpResponseMessage response = await CompleteAsync(i);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("good", response.Headers.GetValues("x-gorgo-replica").Single());
        }

        // Four failures in the window open the bad replica's breaker: routing leaves it out, the state says so.
        Assert.True(fixture.State.Router.IsSuspended("bad"));
        int callsWhenOpened = fixture.BadCalls;
        for (int i = 5; i <= 8; i++)
        {
            using HttpResponseMessage response = await CompleteAsync(i);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("bad", response.Headers.GetValues("x-gorgo-open-circuits").Single());
            Assert.Equal("1", response.Headers.GetValues("x-gorgo-attempts").Single());
        }

        Assert.Equal(callsWhenOpened, fixture.BadCalls);
        using JsonDocument state = JsonDocument.Parse(await fixture.Http.GetStringAsync("proxy/state"));
        Assert.Equal("open", state.RootElement.GetProperty("breakers").GetProperty("bad").GetString());
        Assert.Equal("closed", state.RootElement.GetProperty("breakers").GetProperty("good").GetString());
    }
}
