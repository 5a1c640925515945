using System.Net.Http.Json;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.KvEvents;
using Gorgo.Replica.Server;
using Gorgo.Routing.Hashing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Replica.Tests;

/// <summary>The emulated replica publishes its engine's KV events in vLLM's format; a subscriber's view follows the engine exactly.</summary>
public sealed class EmulatedKvEventsTests
{
    [Fact]
    public async Task A_view_built_from_the_replicas_events_equals_its_engines_blocks_through_evictions()
    {
        // 96 blocks of 16 tokens: three families of prompts (20 shared blocks + 10 own each) overflow it, so blocks are evicted.
        EngineProfile profile = TestProfiles.Fast("kv-events", maxRunningRequests: 2) with { KvCapacityBlocks = 96, MaxContextTokens = 1024 };
        WebApplication app = ReplicaServer.Build(
            new ReplicaServerOptions { Port = 0, Model = "m", DefaultMaxTokens = 4, KvEventsEndpoint = "tcp://127.0.0.1:*", KvEventsReplayEndpoint = "tcp://127.0.0.1:*" },
            logging => logging.ClearProviders(),
            profile);
        await app.StartAsync();
        try
        {
            EmulatedReplica replica = app.Services.GetRequiredService<EmulatedReplica>();
            long removed = 0;
            var view = new KvCacheView(new BlockHasher(profile.BlockSize), (_, r) => Interlocked.Add(ref removed, r.Count));
            KvEventPublisher publisher = replica.KvEvents!.Publisher;
            using var subscriber = new KvEventSubscriber(new KvEventsOptions { Endpoint = publisher.Endpoint, ReplayEndpoint = publisher.ReplayEndpoint }, view);
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single() + "/") };

            for (int round = 0; round < 4; round++)
            {
                for (int family = 0; family < 3; family++)
                {
                    int[] prompt = [.. Enumerable.Range(family * 10_000, 320), .. Enumerable.Range((family * 10_000) + 5_000 + (round * 200), 160)];
                    using HttpResponseMessage response = await http.PostAsJsonAsync("v1/completions", new { model = "m", prompt, max_tokens = 4 });
                    response.EnsureSuccessStatusCode();
                }
            }

            ulong[] engine = [];
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (DateTime.UtcNow < deadline)
            {
                engine = replica.Engine.CachedBlocks();
                if (engine.Order().SequenceEqual(view.Hashes().Order()))
                {
                    break;
                }

                await Task.Delay(20);
            }

            Assert.NotEmpty(engine);
            Assert.Equal(engine.Order(), view.Hashes().Order());
            Assert.True(Interlocked.Read(ref removed) > 0, "no block was evicted; the test does not cover removals");
            Assert.True(view.Exact);
            Assert.Equal(0, replica.KvEvents.UnknownBlocks);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
