using System.Net;
using System.Text;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy.Tests;

public class TransientFailureTests
{
    private const string Model = "transient-model";

    [Fact]
    public async Task A_model_served_by_one_replica_survives_a_dropped_connection_by_trying_it_again()
    {
        int completions = 0;
        WebApplication replica = ReplicaServer.Build(new ReplicaServerOptions { Port = LoopbackPorts.Free(), Model = Model }, l => l.ClearProviders(), profile: TestProfiles.Fast("only", maxRunningRequests: 4));
        replica.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/v1/completions") && Interlocked.Increment(ref completions) == 1)
            {
                context.Abort(); // the first generation's connection drops, as when the replica's node is still starting
                return;
            }

            await next(context);
        });
        await replica.StartAsync();

        var options = new ProxyOptions
        {
            Region = "us-east",
            ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
            Rtt = new() { ["us-east"] = new() { ["us-east"] = 1.0 } },
            Replicas = [new ProxyReplicaOptions { Id = "only", Region = "us-east", Model = Model, Url = replica.Urls.Single(), MaxContextTokens = 8192 }],
            Resilience = new Gorgo.Serving.ResilienceOptions { RetryBaseDelayMs = 1 },
            DefaultMaxTokens = 4,
        };
        WebApplication proxy = ProxyHost.Build(options, l => l.ClearProviders());
        await proxy.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(options.ListenUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
            using HttpResponseMessage response = await http.PostAsync("v1/completions", new StringContent($$"""{"model": "{{Model}}", "prompt": "again", "max_tokens": 2}""", Encoding.UTF8, "application/json"));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("2", response.Headers.GetValues("x-gorgo-attempts").Single());
            Assert.Equal("only", response.Headers.GetValues("x-gorgo-tried").Single());
            Assert.Equal(2, Volatile.Read(ref completions));
        }
        finally
        {
            await Apps.StopAllAsync(proxy, replica);
        }
    }
}
