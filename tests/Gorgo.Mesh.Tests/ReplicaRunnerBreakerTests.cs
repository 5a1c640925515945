using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Gorgo.Replica.Hosting;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Options;
using Gorgo.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Mesh.Tests;

/// <summary>
/// Requests other nodes send to a replica (the replica grain's path) go through the receiving node's circuit breakers:
/// a replica that answers 5xx while its health check passes opens its breaker there, which suspends it in that
/// node's router (so rebinding stops choosing it), and the open breaker answers without calling it.
/// </summary>
public sealed class ReplicaRunnerBreakerTests : IAsyncLifetime
{
    private WebApplication? _server;
    private int _calls;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{LoopbackPorts.Free()}");
        _server = builder.Build();
        _server.MapGet("/health", () => Results.Ok()); // healthy by its own account
        _server.MapPost("/v1/completions", async context =>
        {
            Interlocked.Increment(ref _calls);
            context.Response.StatusCode = 500;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"error":{"message":"CUDA error","type":"server_error","param":null,"code":null}}""");
        });
        await _server.StartAsync();
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Failures_on_forwarded_requests_open_the_receiving_nodes_breaker_and_suspend_the_replica_in_its_router()
    {
        var router = new Router(new RouterOptions { Region = "us-east" }, RttMatrix.FromPairs([("us-east", "us-east", 1.0)]));
        router.Upsert(new ReplicaView { Id = "r1", Region = "us-east", Model = "m", TakenAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        var breakers = new ReplicaBreakers(router, new ResilienceOptions { BreakerMinimumThroughput = 3, BreakerFailureRatio = 0.5, BreakerBreakMs = 60_000 }, NullLogger.Instance);
        await using LocalReplica replica = LocalReplica.Create(
            new ReplicaOptions { Id = "r1", Region = "us-east", Model = "m", Kind = ReplicaKind.Http, Url = _server!.Urls.Single(), PrefillMsPerToken = 0.1, MaxRunningRequests = 8, MaxContextTokens = 4096 },
            TimeSpan.FromSeconds(10),
            NullLoggerFactory.Instance);

        var outcomes = new List<GenerationChunk>();
        for (int i = 0; i < 5; i++)
        {
            await foreach (GenerationChunk chunk in ReplicaRunner.RunAsync(replica, Request(), "r1", breakers))
            {
                outcomes.Add(chunk);
            }
        }

        // Every request ended with one error piece; the first three reached the replica and opened its breaker, which
        // answered the last two itself (retryable, so the sender tries elsewhere) and suspended the replica.
        Assert.Equal(5, outcomes.Count);
        Assert.All(outcomes, c => Assert.True(c.IsError));
        Assert.Equal(3, _calls);
        Assert.Equal("open", breakers.Describe()["r1"]);
        Assert.True(router.IsSuspended("r1"));
        Assert.Equal("replica_circuit_open", outcomes[^1].ErrorCode);
        Assert.True(outcomes[^1].Retryable);
        Assert.Equal("r1", outcomes[^1].ServedBy);
    }

    private static GenerationRequest Request() => new()
    {
        Endpoint = (int)Replica.OpenAi.OpenAiEndpoint.Completions,
        Model = "m",
        Prompt = "hello",
        MaxTokens = 2,
        PromptTokens = 1,
        BlockSize = 16,
        Stream = true,
    };
}
